"""What a batch of service requests and answers must know first: each case as the referral
aggregate has it (who holds it, whether it is closed, its region and languages) and the
provider directory (``providers.registered``, kept by ``shared.registry``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared import registry
from shared.kit import Inbound
from shared.kit.decision import Decide
from shared.kit.outcomes import Poison
from shared.kit.ports import AggregateStore

from . import support
from .state import CaseReferral

PROVIDERS = "providers"
KEPT = ("name", "kinds", "regions", "languages", "accepting")  # not the provider's e-mail or webhook


class ProviderDirectory:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def keep(self, events: list[Inbound]) -> list[Poison]:
        await registry.apply(self.collection, events, KEPT)
        return []

    async def providers(self) -> dict[str, support.Provider]:
        """The directory is small (an area's providers): read whole for each batch."""
        return {str(d["_id"]): support.provider_of(d) async for d in self.collection.find({"removed": False})}


class RequestContext:
    """The Decision of the service-request workflow."""

    def __init__(self, referrals: AggregateStore, directory: ProviderDirectory, respond_within: timedelta) -> None:
        self.referrals = referrals
        self.directory = directory
        self.respond_within = respond_within

    async def for_batch(self, events: Sequence[Inbound]) -> Decide[support.CaseServices]:
        ids = sorted({e.subject for e in events if e.subject})
        records = await self.referrals.load(ids)
        cases = {i: facts_of(CaseReferral.model_validate(r.state)) for i, r in records.items() if r.state}
        context = support.Context(cases=cases, providers=await self.directory.providers())
        return partial(support.decide, context=context, respond_within=self.respond_within)


def facts_of(case: CaseReferral) -> support.CaseFacts:
    return support.CaseFacts(agency_id=case.agency_id, region=case.region, languages=tuple(case.languages),
                             holder=case.accepted_holder, closed=case.status == "closed")
