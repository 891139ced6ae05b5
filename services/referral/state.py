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
OFFER = "offer"  # timer: the acknowledgement deadline of a handover offer (the holder stays)
REALERT = "realert"  # timer: an unassigned case alerts the supervisors again
Status = Literal["assigned", "accepted", "unassigned", "closed"]
# How a referral stopped being current: declined, timed out (an escalation), released without
# a response (the case closed or moved, its specialist left), or a handover offer not answered.
Outcome = Literal["declined", "timed_out", "released", "lapsed"]


@dataclass(frozen=True)
class Policy:
    ack_sla: dict[Priority, timedelta]
    max_escalations: int
    retry_every: timedelta = timedelta(seconds=60)
    realert_every: timedelta = timedelta(seconds=900)

    @classmethod
    def from_settings(cls, settings: ReferralSettings) -> Policy:
        sla = {p: timedelta(seconds=settings.ack_sla_seconds(p)) for p in Priority}
        return cls(sla, settings.max_escalations, timedelta(seconds=settings.retry_unassigned_seconds),
                   timedelta(seconds=settings.unassigned_realert_seconds))

    def scope(self, escalations: int, alert: int = 0) -> NotificationScope:
        """Beyond ``max_escalations`` (missed deadlines, or alerts of an unassigned case) every
        on-duty supervisor is alerted, not only the region's."""
        widest = max(escalations, alert)
        return NotificationScope.ALL if widest > self.max_escalations else NotificationScope.REGION


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
    # A reassignment or handover: who asked (a role), and for a handover offer the holder it is from.
    requested_by_role: str | None = None
    handover_from: str | None = None


class Ended(BaseModel):
    """A referral that did not stick: its specialist is not chosen next (never, once declined)."""

    referral_id: str
    specialist_id: str
    outcome: Outcome
    at: datetime
    reason: str | None = None


class Closure(BaseModel):
    """How the case was closed, and who had it then (the reopening goes back to them if it can)."""

    at: datetime
    reason: str
    by_id: str | None = None  # None: the agency withdrew the encounter
    by_role: str | None = None
    specialist_id: str | None = None  # whose referral was current when it closed
    accepted: bool = False  # whether that specialist had accepted it (the holder)


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
    # A handover in progress: offered to another specialist while the holder (current) stays.
    offer: Assignment | None = None
    closure: Closure | None = None
    reopen_count: int = 0
    alert: int = 0  # CaseUnassigned alerts since the case last became unassigned
    needs_holder: bool = False  # the accepted holder left the roster: a supervisor must choose

    @property
    def holder(self) -> tuple[str, str] | None:
        """Who this case counts against, and the hold's token in the capacity ledger."""
        if self.current is None or self.status not in ("assigned", "accepted"):
            return None
        return self.current.specialist_id, hold_token(self.case_id, self.current.attempt)

    @property
    def holds(self) -> frozenset[tuple[str, str]]:
        """Every capacity slot this case takes: its current referral's, and a handover offer's."""
        held = {self.holder} if self.holder else set()
        if self.offer is not None and self.status == "accepted":
            held.add((self.offer.specialist_id, hold_token(self.case_id, self.offer.attempt)))
        return frozenset(held)

    @property
    def accepted_holder(self) -> str | None:
        """The specialist responsible for the case: who accepted its current referral."""
        return self.current.specialist_id if self.status == "accepted" and self.current else None

    def common(self) -> CaseFields:
        return {"case_id": self.case_id, "agency_id": self.agency_id, "region": self.region,
                "priority": self.priority, "escalations": self.escalations}

    def involved(self) -> frozenset[str]:
        """Who has the case now: its current specialist and a handover offer's."""
        return frozenset(s for s, _ in self.holds)

    def declined(self) -> frozenset[str]:
        return frozenset(e.specialist_id for e in self.history if e.outcome == "declined")

    def timed_out(self) -> list[str]:
        """Who let this case time out, the oldest timeout first."""
        return [e.specialist_id for e in self.history if e.outcome == "timed_out"]


@dataclass(frozen=True)
class SpecialistDeparted:
    """A roster entry that left (a tombstone, or ``on_duty: false``), for one case it touches:
    the roster consumer hands one to each case holding a slot of that specialist."""

    case_id: str
    specialist_id: str

    @property
    def subject(self) -> str:
        return self.case_id


def hold_token(case_id: str, attempt: int) -> str:
    """One hold per assignment attempt: ``#`` is not allowed in a case id, so this splits back."""
    return f"{case_id}#{attempt}"


def referral_id_for(case_id: str, attempt: int) -> str:
    """Fixed by the case and the attempt: a decision re-made after a crash gets the same id."""
    return "ref-" + derived_id(case_id, f"referral-{attempt}")
