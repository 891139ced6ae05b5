"""Encounters intake could not read at all (``intake.events``): a person may be waiting.

They belong to no case, so they are kept apart, one document per alert, and shown at the
top of the supervisors' board: the agency's supervisors, or every supervisor when the
agency could not be read either. Only ids, a time and a value-free error description.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.contracts.intake import EncounterUnprocessable
from shared.kit import Inbound

from .access import Principal

COLLECTION = "alerts"
SHOWN = 20


class Alert(BaseModel):
    alert_id: str
    agency_id: str | None
    region: str | None
    encounter_id: str | None
    error_type: str
    error: str
    received_at: datetime

    def card(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def decide(state: Alert | None, event: Inbound, now: datetime) -> tuple[Alert, list[Any]]:
    data: EncounterUnprocessable = event.data
    if state is not None:
        return state, []
    return Alert(alert_id=data.alert_id, agency_id=data.agency_id, region=data.region,
                 encounter_id=data.encounter_id, error_type=data.error_type, error=data.error,
                 received_at=data.received_at), []


def for_reader(principal: Principal, alert: Alert) -> bool:
    """Supervisors of the agency; every supervisor when the agency is unknown."""
    if principal.role != "supervisor":
        return False
    return alert.agency_id is None or principal.may_see(alert.agency_id, None)


async def recent(collection: Any, principal: Principal) -> list[dict[str, Any]]:
    """The newest alerts this reader may see (the collection holds only rare failures)."""
    if principal.role != "supervisor":
        return []
    found = [Alert.model_validate(d["state"]) async for d in collection.find({}, {"state": 1}) if d.get("state")]
    found.sort(key=lambda a: a.received_at, reverse=True)
    return [a.card() for a in found if for_reader(principal, a)][:SHOWN]
