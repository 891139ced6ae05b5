"""Driving the certification service's pure ``decide`` as the kit does, for unit tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.certification.domain import decide
from services.certification.state import CaseCertificationFile, Policy
from shared.cloudevents import identity, reader
from shared.contracts.common import Payload
from shared.contracts.inbound import CertificationRecorded, CertificationRequested
from shared.kit import Inbound

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def inbound(event: dict[str, Any]) -> Inbound:
    """A test CloudEvent read the way the service reads it (JSON, strict contract)."""
    parsed = reader(CertificationRequested, CertificationRecorded).validate_json(json.dumps(event))
    return Inbound(id=parsed.id, type=parsed.type, data=parsed.data, subject=parsed.subject)


class Desk:
    """One case's certifications: events in order, due timers fired once each, state stored as
    JSON between steps (as in Mongo)."""

    def __init__(self, case_id: str = "case-1", *, policy: Policy | None = None, now: datetime = T0) -> None:
        self.case_id = case_id
        self.policy = policy or Policy()
        self.now = now
        self.state: CaseCertificationFile | None = None
        self.published: list[Payload] = []

    def send(self, event: dict[str, Any]) -> list[Payload]:
        return self._decide(inbound(event))

    def advance_to(self, moment: datetime) -> list[Payload]:
        """Move the clock; fire every timer due by then, earliest first, like the sweeper."""
        self.now, out = moment, []
        while self.state is not None:
            due = sorted((at, name) for name, at in self.state.timers.items() if at <= moment)
            if not due:
                break
            at, name = due[0]
            rest = {k: v for k, v in self.state.timers.items() if k != name}
            self.state = self.state.model_copy(update={"timers": rest})
            out += self._decide(Inbound.timer(self.case_id, name, at))
        return out

    def _decide(self, event: Inbound) -> list[Payload]:
        state, out = decide(self.state, event, self.now, policy=self.policy)
        stored = state.model_dump(mode="json") if state is not None else None
        self.state = CaseCertificationFile.model_validate(stored) if stored is not None else None
        self.published += out
        return list(out)

    def cert(self, certification_id: str) -> Any:
        assert self.state is not None
        return self.state.find(certification_id)


async def applied(mongo: Any, settings: Any, case_id: str, event: dict[str, Any]) -> bool:
    """Whether the certification service has recorded this event on the case (real Mongo)."""
    doc = await mongo[settings.database("certification")]["certifications"].find_one({"_id": case_id})
    return doc is not None and identity(event["source"], event["id"]) in doc["seen"]
