"""The referral aggregate as stored (one per case) and the policy its rules follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypedDict

from pydantic import BaseModel

from shared.cloudevents import derived_id
from shared.contracts.common import Priority
from shared.contracts.referrals import NotificationScope
from shared.settings import ReferralSettings

ACK = "ack"  # timer: the acknowledgement deadline of the current referral
RETRY = "retry"  # timer: look again for a specialist for an unassigned case
Status = Literal["assigned", "accepted", "unassigned"]


@dataclass(frozen=True)
class Policy:
    ack_sla: dict[Priority, timedelta]
    max_escalations: int
    retry_every: timedelta = timedelta(seconds=60)

    @classmethod
    def from_settings(cls, settings: ReferralSettings) -> Policy:
        sla = {p: timedelta(seconds=settings.ack_sla_seconds(p)) for p in Priority}
        return cls(sla, settings.max_escalations, timedelta(seconds=settings.retry_unassigned_seconds))

    def scope(self, escalations: int) -> NotificationScope:
        """Beyond ``max_escalations`` every on-duty supervisor is alerted, not only the region's."""
        return NotificationScope.ALL if escalations > self.max_escalations else NotificationScope.REGION


class CaseFields(TypedDict):
    """What every referral event says about its case."""

    case_id: str
    agency_id: str
    region: str
    priority: Priority
    escalations: int


class Assignment(BaseModel):
    referral_id: str
    specialist_id: str
    attempt: int
    assigned_at: datetime
    ack_due_at: datetime
    language_match: bool
    accepted_at: datetime | None = None


class Ended(BaseModel):
    """A referral that did not stick: its specialist is not chosen next (never, once declined)."""

    referral_id: str
    specialist_id: str
    outcome: Literal["declined", "timed_out"]
    at: datetime
    reason: str | None = None


class CaseReferral(BaseModel):
    case_id: str
    agency_id: str
    region: str
    priority: Priority
    languages: list[str]
    status: Status = "unassigned"
    current: Assignment | None = None
    history: list[Ended] = []
    attempts: int = 0
    escalations: int = 0
    timers: dict[str, datetime] = {}

    @property
    def holder(self) -> tuple[str, str] | None:
        """Who this case counts against, and the hold's token in the capacity ledger."""
        if self.current is None or self.status == "unassigned":
            return None
        return self.current.specialist_id, hold_token(self.case_id, self.current.attempt)

    def common(self) -> CaseFields:
        return {"case_id": self.case_id, "agency_id": self.agency_id, "region": self.region,
                "priority": self.priority, "escalations": self.escalations}

    def declined(self) -> frozenset[str]:
        return frozenset(e.specialist_id for e in self.history if e.outcome == "declined")

    def timed_out(self) -> list[str]:
        """Who let this case time out, the oldest timeout first."""
        return [e.specialist_id for e in self.history if e.outcome == "timed_out"]


def hold_token(case_id: str, attempt: int) -> str:
    """One hold per assignment attempt: ``#`` is not allowed in a case id, so this splits back."""
    return f"{case_id}#{attempt}"


def referral_id_for(case_id: str, attempt: int) -> str:
    """Fixed by the case and the attempt: a decision re-made after a crash gets the same id."""
    return "ref-" + derived_id(case_id, f"referral-{attempt}")
