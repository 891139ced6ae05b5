"""Who holds each case, as intake knows it: the one who may read the person's identity (pure).

Folded from ``referrals.events`` (the referral service decides who holds a case) and from
intake's own ``cases.opened`` (which case file a case id is, and whether the agency withdrew
it). The rule (docs/design.md, Identity reads): only the specialist who **accepted** the
case's *current* referral, while the case is open, may read. So:

* a new referral (a first assignment, a decline's or an escalation's next, a supervisor's
  reassignment) is current at once and not accepted yet: nobody reads until it is;
* a handover (``ReferralAssigned.handover_from``, asked by the holder) is an offer: the holder
  keeps reading until the new specialist accepts, then only the new one;
* a supervisor moving an accepted case is an offer too (the referral service keeps the holder
  responsible until the new specialist accepts), but the holder reads no more from the moment
  it is made; if the offer is declined or lapses (``HolderKept``), the holder reads again;
* closed, withdrawn, or a holder who left the roster (``CaseNeedsHolder``): nobody;
* reopened: nobody until a referral is accepted again.

Each referral that stops being current is remembered (``ended``), so a late event of an
older referral never undoes what a newer one decided; a reopening applies only once per
``reopen_count``. Redelivery is dropped by the kit before it gets here. Where an event
cannot be placed the fold errs on the side of refusing: nothing here ever makes a reader
of someone the referral service did not make one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from shared.contracts.audit import AuditRole
from shared.contracts.inbound import ActorRole
from shared.contracts.intake import CaseOpened, CaseWithdrawn
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
    ReferralReleased,
)
from shared.kit import Inbound

from .domain import encounter_key

COLLECTION = "holders"
ENDED_KEPT = 200  # a case has a handful of referrals; the newest ended ones are kept


class Referral(BaseModel):
    referral_id: str
    specialist_id: str
    accepted: bool = False
    # An offer only: made by the holder (a handover: the holder reads on until it is accepted),
    # not by a supervisor moving the case (the holder reads no more).
    by_holder: bool = False


class Holding(BaseModel):
    """One case: its current referral, a handover offered, and whether it is open."""

    case_id: str
    case_file: str | None = None  # the intake case file (``agency|encounter``), from cases.opened
    current: Referral | None = None  # the case's current referral
    offer: Referral | None = None  # a handover offered: ``current`` holds the case until it is accepted
    attempt: int = 0  # the highest assignment attempt seen
    closed: bool = False
    withdrawn: bool = False
    reopen_count: int = 0
    needs_holder: bool = False  # the accepting specialist left the roster
    ended: list[str] = Field(default_factory=list)  # referrals no longer current
    accepted_by: list[str] = Field(default_factory=list)  # every specialist who accepted it: who may record a consent

    @property
    def holder(self) -> str | None:
        """The specialist who may read the identity now, if anyone."""
        current, offer = self.current, self.offer
        if current is None or not current.accepted or self.closed or self.withdrawn or self.needs_holder:
            return None
        if offer is not None and not offer.by_holder:
            return None  # a supervisor is moving the case
        return current.specialist_id


class Refusal(StrEnum):
    """Why a read was refused (logged and kept internal: every refusal answers alike)."""

    NOT_A_SPECIALIST = "not_a_specialist"
    UNKNOWN_CASE = "unknown_case"
    NO_HOLDER = "no_holder"  # closed, withdrawn, unaccepted, or the holder left
    NOT_THE_HOLDER = "not_the_holder"


def refusal(holding: Holding | None, actor_id: str, role: str) -> Refusal | None:
    """None when this actor may read the case's identity now."""
    if role != AuditRole.SPECIALIST:
        return Refusal.NOT_A_SPECIALIST
    if holding is None or holding.case_file is None:
        return Refusal.UNKNOWN_CASE
    if holding.holder is None:
        return Refusal.NO_HOLDER
    return None if holding.holder == actor_id else Refusal.NOT_THE_HOLDER


def decide(state: Holding | None, event: Inbound, now: datetime) -> tuple[Holding, list[Any]]:
    """Fold one event; nothing is published (the read model is intake's own)."""
    holding = state or Holding(case_id=event.data.case_id)
    return fold(holding, event.data), []


def fold(h: Holding, data: Any) -> Holding:
    match data:
        case CaseOpened():
            return h.model_copy(update={"case_file": h.case_file or encounter_key(data.agency_id, data.encounter_id)})
        case CaseWithdrawn():
            return h.model_copy(update={"withdrawn": True,
                                        "case_file": h.case_file or encounter_key(data.agency_id, data.encounter_id)})
        case ReferralAssigned():
            return assigned(h, data)
        case ReferralAccepted():
            return accepted(h, data.referral_id, data.specialist_id)
        case ReferralDeclined() | ReferralEscalated() | ReferralReleased():
            return _end(h, data.referral_id)
        case HolderKept():
            return kept(h, data)
        case CaseUnassigned():
            if data.previous_referral_id in h.ended and h.current is not None:
                return h  # about a referral already superseded by the current one
            return _end_all(h)
        case CaseNeedsHolder():
            if data.referral_id in h.ended:
                return h
            return h.model_copy(update={"needs_holder": True})
        case CaseClosureApplied():
            if data.referral_id is not None and data.referral_id in h.ended:
                return h  # a closure whose referral had ended already: an older one
            return _end_all(h).model_copy(update={"closed": True})
        case CaseReopeningApplied():
            if data.reopen_count <= h.reopen_count:
                return h  # an older reopening
            return _end_all(h).model_copy(update={"closed": False, "reopen_count": data.reopen_count})
    return h  # responses and actions refused change nothing


def assigned(h: Holding, event: ReferralAssigned) -> Holding:
    """A new referral: an offer while an accepted holder is asked to hand the case over, else
    current at once (whoever had the case reads no more)."""
    if event.referral_id in (*h.ended, _id(h.current), _id(h.offer)) or event.attempt < h.attempt:
        return h  # an older referral, or one known already
    new = Referral(referral_id=event.referral_id, specialist_id=event.specialist_id)
    attempt = max(h.attempt, event.attempt)
    holder = h.current.specialist_id if h.current is not None and h.current.accepted else None
    if event.handover_from is not None and event.handover_from == holder and not h.needs_holder:
        asker = event.reassigned_by
        by_holder = asker is not None and asker.role == ActorRole.VICTIM_SPECIALIST and asker.id == holder
        offer = new.model_copy(update={"by_holder": by_holder})
        return h.model_copy(update={"offer": offer, "attempt": attempt, "ended": _ended(h.ended, h.offer)})
    return h.model_copy(update={"current": new, "offer": None, "attempt": attempt, "needs_holder": False,
                                "ended": _ended(h.ended, h.current, h.offer)})


def accepted(h: Holding, referral_id: str, specialist_id: str) -> Holding:
    """The referral's specialist accepted: the holder now (a handover completes)."""
    if referral_id in h.ended:
        return h
    taken = Referral(referral_id=referral_id, specialist_id=specialist_id, accepted=True)
    h = _accepted_by(h, specialist_id)
    if referral_id == _id(h.current):
        return h.model_copy(update={"current": taken, "needs_holder": False})
    # The offer (a handover), or a referral whose assignment was not seen here: current now.
    others = [r for r in (h.current, h.offer) if r is not None and r.referral_id != referral_id]
    return h.model_copy(update={"current": taken, "offer": None, "needs_holder": False,
                                "ended": _ended(h.ended, *others)})


def _accepted_by(h: Holding, specialist_id: str) -> Holding:
    if specialist_id in h.accepted_by:
        return h
    return h.model_copy(update={"accepted_by": [*h.accepted_by, specialist_id]})


def recorders(h: Holding) -> frozenset[str]:
    """Who may have recorded a consent that counts: a specialist who accepted the case (the
    dashboard lets only the holder record one; another writer of ``consents.recorded`` is not
    trusted with a person's consent)."""
    return frozenset(h.accepted_by) | ({h.holder} if h.holder else set())


def kept(h: Holding, event: HolderKept) -> Holding:
    """An offer declined or lapsed: it ends, and the holder keeps the case (and reads again
    after a supervisor's move that did not happen)."""
    h = _end(h, event.declined_referral_id)
    if event.referral_id in (*h.ended, _id(h.current)):
        return h
    # The holder's referral, its assignment not seen here: current now (a departure still stands).
    holder = Referral(referral_id=event.referral_id, specialist_id=event.specialist_id, accepted=True)
    return h.model_copy(update={"current": holder, "offer": None, "ended": _ended(h.ended, h.current, h.offer)})


def _end(h: Holding, referral_id: str) -> Holding:
    """This referral is no longer current (declined, timed out, released): whoever had it reads
    no more, and its late events change nothing."""
    if referral_id == _id(h.current):
        return h.model_copy(update={"current": None, "ended": _ended(h.ended, h.current)})
    if referral_id == _id(h.offer):
        return h.model_copy(update={"offer": None, "ended": _ended(h.ended, h.offer)})
    return h.model_copy(update={"ended": _ended(h.ended, referral_id)})


def _end_all(h: Holding) -> Holding:
    return h.model_copy(update={"current": None, "offer": None, "ended": _ended(h.ended, h.current, h.offer)})


def _id(referral: Referral | None) -> str | None:
    return referral.referral_id if referral is not None else None


def _ended(ended: list[str], *gone: Referral | str | None) -> list[str]:
    for item in gone:
        referral_id = _id(item) if not isinstance(item, str) else item
        if referral_id is not None and referral_id not in ended:
            ended = [*ended, referral_id]
    return ended[-ENDED_KEPT:]
