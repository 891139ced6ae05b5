"""A case as the board holds it: a compact row read from a ``cases.status`` snapshot.

Times are epoch seconds (cheap to keep 100,000 of, cheap to compare). ``card`` turns a
row into what the API and the pages show, with the flags a supervisor scans for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
HHS_NOTICE_SECONDS = 24 * 3600  # M1: HHS must be notified within 24 hours
RUNNING_CP = frozenset({"granted", "renewed"})


def _epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def iso(value: float | None) -> str | None:
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(slots=True)
class Row:
    case_id: str
    encounter_id: str
    version: int
    agency_id: str
    region: str
    priority: str
    minor: bool
    stage: str
    opened_at: float
    updated_at: float
    referral_status: str
    referral_id: str | None
    specialist_id: str | None
    assigned_at: float | None
    accepted_at: float | None
    ack_due_at: float | None
    escalations: int
    interpreter: str
    hhs: str
    urgent_needs: tuple[str, ...]
    needs_assessed: bool
    interview_status: str
    cp_status: str
    cp_valid_until: float | None
    closed_at: float | None = None
    closure_reason: str | None = None
    reopen_count: int = 0
    handover_to: str | None = None
    needs_holder: bool = False
    unassigned_alerts: int = 0

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Row:
        referral, stab, cp = data["referral"], data["stabilization"], data["continued_presence"]
        return cls(
            case_id=data["case_id"], encounter_id=data["encounter_id"], version=int(data["version"]),
            agency_id=data["agency_id"], region=data["region"], priority=data["priority"],
            minor=bool(data["minor"]), stage=data["stage"], opened_at=_epoch(data["opened_at"]) or 0.0,
            updated_at=_epoch(data["updated_at"]) or 0.0, referral_status=referral["status"],
            referral_id=referral.get("referral_id"), specialist_id=referral.get("specialist_id"),
            assigned_at=_epoch(referral.get("assigned_at")), accepted_at=_epoch(referral.get("accepted_at")),
            ack_due_at=_epoch(referral.get("ack_due_at")), escalations=int(referral.get("escalations", 0)),
            interpreter=data["interpreter"], hhs=stab["hhs_notification"],
            urgent_needs=tuple(stab.get("urgent_needs_open", ())), needs_assessed=bool(stab.get("needs_assessed")),
            interview_status=(stab.get("interview") or {}).get("status", "not_requested"),
            cp_status=cp.get("status", "not_requested"), cp_valid_until=_epoch(cp.get("valid_until")),
            closed_at=_epoch((data.get("closure") or {}).get("at")),
            closure_reason=(data.get("closure") or {}).get("reason"), reopen_count=int(data.get("reopen_count", 0)),
            handover_to=referral.get("handover_to"), needs_holder=bool(referral.get("needs_holder")),
            unassigned_alerts=int(referral.get("unassigned_alerts", 0)),
        )

    @property
    def order(self) -> tuple[int, float, str]:
        """Board order: most urgent first, then the longest waiting."""
        return PRIORITY_RANK.get(self.priority, 3), self.opened_at, self.case_id

    @property
    def closed(self) -> bool:
        return self.stage == "closed"

    @property
    def awaiting_acceptance(self) -> bool:
        """An open case's referral waiting for its specialist (an escalated one is reassigned and waits too)."""
        return self.referral_status in ("assigned", "escalated") and self.ack_due_at is not None and not self.closed

    @property
    def realerts(self) -> int:
        """How many times the supervisors were alerted again about this unassigned case."""
        return max(0, self.unassigned_alerts - 1) if self.referral_status == "unassigned" and not self.closed else 0

    @property
    def hhs_due_at(self) -> float | None:
        return self.opened_at + HHS_NOTICE_SECONDS if self.hhs in ("due", "overdue") else None

    def flags(self, now: float, cp_lead_seconds: float) -> list[str]:
        flags = []
        if self.closed:
            flags.append("closed")
        if self.needs_holder and not self.closed:
            flags.append("needs_holder")
        if self.handover_to and not self.closed:
            flags.append("handover")
        if self.awaiting_acceptance and self.ack_due_at is not None and self.ack_due_at <= now:
            flags.append("overdue")
        if self.referral_status in ("escalated", "unassigned") and not self.closed:
            flags.append(self.referral_status)
        if self.realerts:
            flags.append("realerted")
        if self.hhs in ("due", "overdue"):
            flags.append(f"hhs_{self.hhs}")
        if self.cp_status == "expired" or (self.cp_status in RUNNING_CP and self.cp_valid_until is not None
                                           and self.cp_valid_until <= now):
            flags.append("cp_expired")
        elif self.cp_status in RUNNING_CP and self.cp_valid_until is not None \
                and self.cp_valid_until - now <= cp_lead_seconds:
            flags.append("cp_expiring")
        if self.interpreter == "needed" and not self.closed:
            flags.append("interpreter_needed")
        if self.urgent_needs and not self.closed:
            flags.append("urgent_needs")
        return flags

    def card(self, now: float, cp_lead_seconds: float) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "encounter_id": self.encounter_id, "version": self.version,
            "agency_id": self.agency_id, "region": self.region, "priority": self.priority, "minor": self.minor,
            "stage": self.stage, "opened_at": iso(self.opened_at), "updated_at": iso(self.updated_at),
            "referral": {"status": self.referral_status, "referral_id": self.referral_id,
                         "specialist_id": self.specialist_id, "ack_due_at": iso(self.ack_due_at),
                         "escalations": self.escalations, "handover_to": self.handover_to,
                         "needs_holder": self.needs_holder, "unassigned_alerts": self.unassigned_alerts},
            "closure": {"at": iso(self.closed_at), "reason": self.closure_reason} if self.closed_at else None,
            "reopen_count": self.reopen_count,
            "interpreter": self.interpreter, "hhs_notification": self.hhs, "hhs_due_at": iso(self.hhs_due_at),
            "urgent_needs_open": list(self.urgent_needs), "interview": self.interview_status,
            "continued_presence": {"status": self.cp_status, "valid_until": iso(self.cp_valid_until)},
            "flags": self.flags(now, cp_lead_seconds),
        }
