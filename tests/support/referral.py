"""Events and checks for the referral service's tests (no PII: ids, codes and counts only)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.support.events import cloudevent, specialist

TYPES = {
    "assigned": "casework.referral.assigned.v1",
    "accepted": "casework.referral.accepted.v1",
    "declined": "casework.referral.declined.v1",
    "escalated": "casework.referral.escalated.v1",
    "unassigned": "casework.case.unassigned.v1",
    "rejected": "casework.referral_response.rejected.v1",
    "closed": "casework.referral.case_closed.v1",
    "reopened": "casework.referral.case_reopened.v1",
    "released": "casework.referral.released.v1",
    "kept": "casework.referral.holder_kept.v1",
    "needs_holder": "casework.referral.case_needs_holder.v1",
    "refused": "casework.referral.case_action_rejected.v1",
}


def case_opened(case_id: str, *, region: str = "US-TX", languages: list[str] | None = None,
                priority: str = "normal", agency_id: str = "TX-DPS", event_id: str | None = None) -> dict[str, Any]:
    """``cases.opened`` as intake publishes it."""
    data = {"case_id": case_id, "encounter_id": f"ENC-{case_id}", "agency_id": agency_id,
            "agency_level": "state", "officer_id": "officer-17", "region": region,
            "occurred_at": "2026-11-30T08:15:00Z", "opened_at": "2026-11-30T08:16:00Z",
            "languages": languages or ["es"], "interpreter_needed": False, "urgent_needs": [],
            "priority": priority, "minor": False,
            "screening": {"categories": {"general": 0}, "indicator_count": 0}}
    return cloudevent("casework.case.opened.v1", data, subject=case_id, event_id=event_id,
                      source="casework/intake")


def responded(case_id: str, referral_id: str, specialist_id: str, response: str = "accepted", *,
              reason: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"case_id": case_id, "referral_id": referral_id, "specialist_id": specialist_id,
                            "response": response}
    if reason is not None:
        data["reason"] = reason
    return cloudevent("casework.referral.responded.v1", data, subject=case_id, event_id=event_id,
                      source="app/specialist")


def victim_specialist(specialist_id: str, **overrides: Any) -> dict[str, Any]:
    return specialist(specialist_id, **overrides)


def supervisor(specialist_id: str, **overrides: Any) -> dict[str, Any]:
    return specialist(specialist_id, **({"role": "supervisor"} | overrides))


def actor(actor_id: str, role: str = "victim_specialist") -> dict[str, str]:
    return {"id": actor_id, "role": role}


def case_closed(case_id: str, by: dict[str, str], reason: str = "services_completed", *,
                event_id: str | None = None) -> dict[str, Any]:
    return cloudevent("casework.case.closed.v1", {"case_id": case_id, "closed_by": by, "reason": reason},
                      subject=case_id, event_id=event_id, source="app/dashboard")


def case_reopened(case_id: str, by: dict[str, str], reason: str = "re_engaged", *,
                  event_id: str | None = None) -> dict[str, Any]:
    return cloudevent("casework.case.reopened.v1", {"case_id": case_id, "reopened_by": by, "reason": reason},
                      subject=case_id, event_id=event_id, source="app/dashboard")


def reassigned(case_id: str, by: dict[str, str], to: str | None = None, reason: str = "workload", *,
               event_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"case_id": case_id, "requested_by": by, "reason": reason}
    if to is not None:
        data["to_specialist_id"] = to
    return cloudevent("casework.referral.reassigned.v1", data, subject=case_id, event_id=event_id,
                      source="app/dashboard")


def case_withdrawn(case_id: str, reason: str = "entered_in_error") -> dict[str, Any]:
    """``cases.opened`` as intake publishes a withdrawal."""
    data = {"case_id": case_id, "encounter_id": f"ENC-{case_id}", "agency_id": "TX-DPS", "reason": reason,
            "withdrawn_at": "2026-11-30T09:00:00Z"}
    return cloudevent("casework.case.withdrawn.v1", data, subject=case_id, source="casework/intake")


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == TYPES[kind]]


def is_kind(kind: str, case_id: str | None = None) -> Any:
    return lambda e: e["type"] == TYPES[kind] and (case_id is None or e["subject"] == case_id)


async def until_cases(bus: Any, cases: int, *kinds: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Every event on ``referrals.events`` once ``cases`` distinct cases have one of ``kinds``
    (a re-sent event id counts once)."""
    def enough(records: list[Any]) -> bool:
        decoded = [json.loads(rec.value) for rec in records if rec.value]
        return len({e["subject"] for e in decoded if e["type"] in {TYPES[k] for k in kinds}}) >= cases
    records = await bus.read("referrals.events", until=enough, timeout=timeout)
    return [json.loads(rec.value) for rec in records if rec.value]


def unique(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Events of a kind, each id once; a re-sent id must carry the same decision."""
    first: dict[str, dict[str, Any]] = {}
    for event in of_kind(events, kind):
        kept = first.setdefault(event["id"], event)
        assert (kept["data"].get("specialist_id"), kept["data"].get("referral_id")) == \
            (event["data"].get("specialist_id"), event["data"].get("referral_id")), event["id"]
    return list(first.values())


def per_specialist(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["data"]["specialist_id"] for e in unique(events, "assigned"))


def per_case(events: list[dict[str, Any]], kind: str) -> Counter[str]:
    """How many distinct events of a kind each case got (a re-sent duplicate id counts once)."""
    unique = {e["id"]: e for e in of_kind(events, kind)}
    return Counter(e["subject"] for e in unique.values())


async def holds(db: Any) -> dict[str, list[str]]:
    """The capacity ledger as ``{specialist: [tokens]}`` (a token is ``<case>#<attempt>``)."""
    found: dict[str, list[str]] = {}
    async for doc in db["holds"].find({}):
        found.setdefault(doc["specialist_id"], []).append(doc["token"])
    return {s: sorted(t) for s, t in found.items()}


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
