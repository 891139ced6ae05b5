"""The provider directory as the dashboard's picker reads it (``providers.registered``).

One document per provider in the ``providers`` collection, recorded by ``shared.registry``
(the last registration wins, a tombstone removes, a replay never overwrites something
newer). Kept: what a specialist picks by — kinds, regions, languages, whether the provider
is accepting — and the name; not the provider's e-mail or webhook (the notify service reads
those from the topic itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared import registry
from shared.contracts.inbound import ProviderKind
from shared.kit import Inbound
from shared.kit.outcomes import Poison
from shared.languages import primary_language
from shared.regions import covers

COLLECTION = "providers"
KEPT = ("name", "kinds", "regions", "languages", "accepting")


@dataclass(frozen=True)
class ProviderQuery:
    """Which providers: of a kind, serving a region, speaking a language (each optional)."""

    kind: ProviderKind | None = None
    region: str | None = None
    language: str | None = None

    def admits(self, provider: Mapping[str, Any]) -> bool:
        if provider.get("removed"):
            return False
        if self.kind is not None and self.kind.value not in provider.get("kinds", ()):
            return False
        if self.region is not None and not covers(provider.get("regions", ()), self.region):
            return False
        spoken = {primary_language(t) for t in provider.get("languages", ())}
        return self.language is None or primary_language(self.language) in spoken


def matching(providers: Iterable[Mapping[str, Any]], query: ProviderQuery) -> list[dict[str, Any]]:
    """The providers the query admits, those accepting first, then by name and id."""
    found = [entry(p) for p in providers if query.admits(p)]
    return sorted(found, key=lambda p: (not p["accepting"], p["name"].casefold(), p["provider_id"]))


def entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"provider_id": doc["_id"], "name": doc.get("name", ""), "kinds": list(doc.get("kinds", ())),
            "regions": list(doc.get("regions", ())), "languages": list(doc.get("languages", ())),
            "accepting": bool(doc.get("accepting", True))}


async def keep(collection: AsyncCollection[dict[str, Any]], events: list[Inbound]) -> list[Poison]:
    await registry.apply(collection, events, KEPT)
    return []


async def find(collection: AsyncCollection[dict[str, Any]], query: ProviderQuery) -> list[dict[str, Any]]:
    """The directory is small (an area's providers): read whole, filtered here."""
    return matching(await collection.find({"removed": False}).to_list(None), query)


async def names(collection: AsyncCollection[dict[str, Any]] | None, ids: Iterable[str]) -> dict[str, str]:
    """Each known provider's name (a removed one keeps its last name: the request still names it)."""
    wanted = sorted(set(ids))
    if collection is None or not wanted:
        return {}
    return {str(d["_id"]): str(d.get("name", d["_id"])) async for d in collection.find({"_id": {"$in": wanted}})}
