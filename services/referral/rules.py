"""Which responses on ``referrals.responded`` cannot be applied, and which closes, reopenings
and reassignments may not be, as named rules (the rejection reasons), and the events that say so.

A response for an unknown or superseded referral (declined, timed out, released), from a
specialist it was not assigned to, or for a referral already accepted, is never applied and
never silently dropped: it becomes a ``ReferralResponseRejected`` (and a log line, see the
app). A case action by someone not entitled to it becomes a ``CaseActionRejected``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared.contracts.inbound import Actor, ActorRole, ReferralReassigned, ReferralResponded
from shared.contracts.referrals import (
    CaseActionKind,
    CaseActionRejected,
    CaseActionRejection,
    ReferralResponseRejected,
    RejectionReason,
)

if TYPE_CHECKING:
    from .matching import Roster
    from .state import CaseReferral

DETAILS = {
    RejectionReason.UNKNOWN_CASE: "no referral exists for this case",
    RejectionReason.UNKNOWN_REFERRAL: "this case never had a referral with this id",
    RejectionReason.SUPERSEDED: "the referral was declined, timed out, released or replaced by a newer one",
    RejectionReason.WRONG_SPECIALIST: "the referral is assigned to another specialist",
    RejectionReason.ALREADY_ANSWERED: "the referral was already accepted",
}


def reject_reason(state: CaseReferral | None, response: ReferralResponded) -> RejectionReason | None:
    if state is None:
        return RejectionReason.UNKNOWN_CASE
    if state.offer is not None and state.offer.referral_id == response.referral_id:  # a handover offer
        return None if state.offer.specialist_id == response.specialist_id else RejectionReason.WRONG_SPECIALIST
    current = state.current
    if current is None or current.referral_id != response.referral_id:
        if any(e.referral_id == response.referral_id for e in state.history):
            return RejectionReason.SUPERSEDED
        return RejectionReason.UNKNOWN_REFERRAL
    if current.specialist_id != response.specialist_id:
        return RejectionReason.WRONG_SPECIALIST
    if state.status == "accepted":
        return RejectionReason.ALREADY_ANSWERED
    return None


def rejected(state: CaseReferral | None, response: ReferralResponded, event_id: str,
             reason: RejectionReason, now: datetime) -> ReferralResponseRejected:
    return ReferralResponseRejected(
        case_id=response.case_id, referral_id=response.referral_id, specialist_id=response.specialist_id,
        response=response.response, rejection=reason, detail=DETAILS[reason],
        response_event_id=event_id[:500], rejected_at=now,
        agency_id=state.agency_id if state else None, region=state.region if state else None,
        current_referral_id=state.current.referral_id if state and state.current else None,
    )


# -- a case's life: who may close, reopen or move a case (docs/design.md, Case life) ----------

def in_scope(roster: Roster, actor: Actor, state: CaseReferral) -> bool:
    """A supervisor on the roster whose regions cover the case's region, of the agency that
    reported it or of the organisation of a specialist who has it (current, offered, or the
    one who had it when it closed): victim specialists often work for an organisation other
    than the reporting agency, and their own supervisors must be able to act on their cases."""
    found = roster.supervisors.get(actor.id)
    if actor.role != ActorRole.SUPERVISOR or found is None:
        return False
    having = {state.current.specialist_id if state.current else None,
              state.offer.specialist_id if state.offer else None,
              state.closure.specialist_id if state.closure else None}
    agencies = {state.agency_id} | {s.agency_id for i in having if i and (s := roster.specialists.get(i))}
    return found.covers(agencies, state.region)


def is_holder(actor: Actor, specialist_id: str | None) -> bool:
    return actor.role == ActorRole.VICTIM_SPECIALIST and specialist_id is not None and actor.id == specialist_id


def close_refusal(state: CaseReferral | None, actor: Actor | None, roster: Roster) -> CaseActionRejection | None:
    """Who may close: the accepted holder, or a supervisor in scope (``actor`` None: a withdrawal)."""
    if state is None:
        return CaseActionRejection.UNKNOWN_CASE
    if state.status == "closed":
        return CaseActionRejection.ALREADY_CLOSED
    if actor is None or is_holder(actor, state.accepted_holder) or in_scope(roster, actor, state):
        return None
    return CaseActionRejection.NOT_ENTITLED


def reopen_refusal(state: CaseReferral | None, actor: Actor, roster: Roster) -> CaseActionRejection | None:
    """Who may reopen: the holder when it closed, or a supervisor in scope."""
    if state is None:
        return CaseActionRejection.UNKNOWN_CASE
    if state.status != "closed" or state.closure is None:
        return CaseActionRejection.NOT_CLOSED
    previous = state.closure.specialist_id if state.closure.accepted else None
    if is_holder(actor, previous) or in_scope(roster, actor, state):
        return None
    return CaseActionRejection.NOT_ENTITLED


def reassign_refusal(state: CaseReferral | None, request: ReferralReassigned,
                     roster: Roster) -> CaseActionRejection | None:
    """Who may move a case (a supervisor in scope; the holder hands it over), and whether the
    named specialist can take it: a supervisor's naming overrides an earlier decline, nothing
    overrides duty or capacity."""
    if state is None:
        return CaseActionRejection.UNKNOWN_CASE
    if state.status == "closed":
        return CaseActionRejection.ALREADY_CLOSED
    actor, supervisor = request.requested_by, in_scope(roster, request.requested_by, state)
    if not supervisor and not is_holder(actor, state.accepted_holder):
        assigned = state.current.specialist_id if state.current and state.status == "assigned" else None
        return CaseActionRejection.NO_HOLDER if is_holder(actor, assigned) else CaseActionRejection.NOT_ENTITLED
    named = request.to_specialist_id
    if named is None:
        return None
    if named not in roster.specialists:
        return CaseActionRejection.UNKNOWN_SPECIALIST
    if named in state.involved():
        return CaseActionRejection.ALREADY_HOLDER
    if not roster.available(named) or (not supervisor and named in state.declined()):
        return CaseActionRejection.NOT_AVAILABLE
    return None


def action_rejected(state: CaseReferral | None, case_id: str, action: CaseActionKind, actor: Actor,
                    rejection: CaseActionRejection, event_id: str, now: datetime) -> CaseActionRejected:
    return CaseActionRejected(case_id=case_id, action=action, actor=actor, rejection=rejection,
                              request_event_id=event_id[:500], rejected_at=now,
                              agency_id=state.agency_id if state else None, region=state.region if state else None)
