"""Valid CloudEvents for every inbound type, with canary PII that tests look for later."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.cloudevents import derived_id, identity

# Canaries: if any of these strings shows up outside the intake vault, identity has leaked.
CANARY_GIVEN = "Zephyrine"
CANARY_FAMILY = "Quillfeather"
CANARY_ALIAS = "Marisolqx"
CANARY_PHONE = "+1 555 013 9876"
CANARY_EMAIL = "zephyrine.quillfeather@example.org"
CANARY_DOB = "2001-07-14"
CANARY_NARRATIVE = "Held at the Bluewater orchard compound since March"
CANARIES = (CANARY_GIVEN, CANARY_FAMILY, CANARY_ALIAS, CANARY_PHONE, CANARY_EMAIL, CANARY_DOB,
            CANARY_NARRATIVE, "Bluewater orchard")


def seen_as(event: dict[str, Any]) -> str:
    """How a service remembers an event it applied: by its source and id."""
    return identity(event["source"], event["id"])


def output_id(cause: dict[str, Any], index: int, *, by: str) -> str:
    """The id a service gives its ``index``-th event in answer to ``cause`` (from its source and id)."""
    return derived_id(identity(cause["source"], cause["id"]), index, by=by)


def cloudevent(type_: str, data: dict[str, Any], *, subject: str | None = None, event_id: str | None = None,
               source: str = "agency/TX-DPS", **extra: Any) -> dict[str, Any]:
    event = {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source, "type": type_,
             "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json", "data": data}
    if subject:
        event["subject"] = subject
    return event | extra


def encounter_data(encounter_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    person = {
        "given_name": CANARY_GIVEN, "family_name": CANARY_FAMILY, "aliases": [CANARY_ALIAS],
        "date_of_birth": CANARY_DOB, "gender": "female", "nationality": "HN",
        "languages": ["es"], "dialect": "Honduran Spanish", "interpreter_needed": True,
        "contact": {"phone": CANARY_PHONE, "email": CANARY_EMAIL},
    }
    person |= overrides.pop("person", {})
    data = {
        "encounter_id": encounter_id or f"ENC-{uuid.uuid4().hex[:10]}",
        "agency": {"id": "TX-DPS", "name": "Texas Department of Public Safety", "level": "state"},
        "reported_by": {"officer_id": "officer-17", "name": "Officer Reyes", "email": "reyes@dps.example.gov"},
        "occurred_at": "2026-11-30T08:15:00Z",
        "region": "US-TX",
        "setting": "traffic stop",
        "person": person,
        "indicators": ["control.documents_held_by_another", "labor.wages_withheld_for_debt",
                       "encounter.fears_law_enforcement"],
        "urgent_needs": ["shelter"],
        "narrative": CANARY_NARRATIVE,
    }
    return data | overrides


def encounter(encounter_id: str | None = None, *, event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    data = encounter_data(encounter_id, **overrides)
    return cloudevent("casework.encounter.reported.v1", data, subject=data["encounter_id"], event_id=event_id)


def withdrawal(encounter_id: str, *, agency_id: str = "TX-DPS", reason: str = "entered_in_error",
               event_id: str | None = None) -> dict[str, Any]:
    """The agency takes its report of ``encounter_id`` back (same topic as the report)."""
    data = {"encounter_id": encounter_id, "agency_id": agency_id, "reason": reason}
    return cloudevent("casework.encounter.withdrawn.v1", data, subject=encounter_id, event_id=event_id,
                      source=f"agency/{agency_id}")


def specialist(specialist_id: str, **overrides: Any) -> dict[str, Any]:
    data = {"specialist_id": specialist_id, "agency_id": "TX-DPS", "name": f"Specialist {specialist_id}",
            "email": f"{specialist_id}@victim-services.example.org", "languages": ["en", "es"],
            "regions": ["US-TX"], "role": "victim_specialist", "on_duty": True, "max_active_cases": 10}
    data |= overrides
    return cloudevent("casework.specialist.registered.v1", data, subject=specialist_id,
                      source="casework/roster")


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


# A certifying official (not the person): signatures carry an official's name and title.
SIGNATORY = {"name": "Chief Dana Alvarez", "title": "Chief of Police", "capacity": "agency_head"}


def certification_requested(case_id: str, certification_id: str, kind: str = "u_visa_certification", *,
                            agency_id: str = "TX-DPS", agency_level: str = "state",
                            officer_id: str = "officer-17", event_id: str | None = None) -> dict[str, Any]:
    data = {"case_id": case_id, "certification_id": certification_id, "kind": kind,
            "requested_by": {"officer_id": officer_id, "agency_id": agency_id, "agency_level": agency_level}}
    return cloudevent("casework.certification.requested.v1", data, subject=case_id, event_id=event_id)


def certification_recorded(case_id: str, certification_id: str, status: str, at: datetime | str, *,
                           signed_by: dict[str, str] | None = None, valid_until: datetime | str | None = None,
                           event_id: str | None = None) -> dict[str, Any]:
    def text(moment: datetime | str) -> str:
        return moment.isoformat() if isinstance(moment, datetime) else moment
    data: dict[str, Any] = {"case_id": case_id, "certification_id": certification_id, "status": status,
                            "at": text(at)}
    if signed_by is not None:
        data["signed_by"] = signed_by
    if valid_until is not None:
        data["valid_until"] = text(valid_until)
    return cloudevent("casework.certification.recorded.v1", data, subject=case_id, event_id=event_id)
