"""Referral rules, pure: assign at once, follow up, escalate (rule 1, D2, D4); and a case's
life: close, reopen, reassign, hand over, departures (docs/design.md, Case life).

One aggregate per case (id = case id). A new case is assigned to the best on-duty
victim specialist without any human step; a decline or a missed acknowledgement
deadline reassigns it at once; when nobody can take it, the case is ``unassigned``
(the region's supervisors are alerted, and alerted again every ``realert_every``) and
retried when the roster changes and every ``retry_every``. Nothing here reads
certification or prosecution outcomes (rule 1).

A case with an accepted holder is never left without one: a handover is an *offer* to
another specialist while the holder stays responsible; the holder's slot is released
only when the offer is accepted. A closed case holds no slot.

The aggregate and its ``Policy`` are in :mod:`.state`; which responses and case actions are
refused, as named rules, in :mod:`.rules`; how the specialist is chosen in :mod:`.matching`.
"""

from __future__ import annotations

from datetime import datetime

from shared.contracts.common import Payload
from shared.contracts.inbound import (
    Actor,
    ActorRole,
    CaseClosed,
    CaseReopened,
    ClosureReason,
    ReferralReassigned,
    ReferralResponded,
    ReferralResponseKind,
)
from shared.contracts.intake import CaseOpened, CaseWithdrawn
from shared.contracts.referrals import (
    CaseActionKind,
    CaseActionRejection,
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
    ReleaseReason,
)
from shared.kit import Inbound, TimerFired

from .matching import Roster, Specialist, choose
from .rules import action_rejected, close_refusal, reassign_refusal, reject_reason, rejected, reopen_refusal
from .state import (
    ACK,
    OFFER,
    REALERT,
    RETRY,
    Assignment,
    CaseReferral,
    Closure,
    Ended,
    Outcome,
    Policy,
    SpecialistDeparted,
    hold_token,
    referral_id_for,
)

Decision = tuple[CaseReferral | None, list[Payload]]


def decide(state: CaseReferral | None, event: Inbound, now: datetime, *, roster: Roster,
           policy: Policy) -> Decision:
    match event.data:
        case CaseOpened() as opened:
            return open_case(state, opened, now, roster, policy)
        case CaseWithdrawn() as withdrawn:  # the agency took the report back: no one's decision to refuse
            return close(state, withdrawn.case_id, None, ClosureReason.WITHDRAWN, event.id, now, roster)
        case CaseClosed() as closed:
            return close(state, closed.case_id, closed.closed_by, closed.reason, event.id, now, roster)
        case CaseReopened() as reopened:
            return reopen(state, reopened, event.id, now, roster, policy)
        case ReferralReassigned() as request:
            return reassign(state, request, event.id, now, roster, policy)
        case ReferralResponded() as response:
            return respond(state, response, event.id, now, roster, policy)
        case SpecialistDeparted() as departed:
            return depart(state, departed, now, roster, policy)
        case TimerFired(name=name) if name == ACK:
            return escalate_unacknowledged(state, now, roster, policy)
        case TimerFired(name=name) if name == RETRY:
            return retry_unassigned(state, now, roster, policy)
        case TimerFired(name=name) if name == OFFER:
            return offer_lapsed(state, now)
        case TimerFired(name=name) if name == REALERT:
            return realert_unassigned(state, now, roster, policy)
    raise ValueError(f"the referral service does not handle {event.type}")


def open_case(state: CaseReferral | None, opened: CaseOpened, now: datetime, roster: Roster,
              policy: Policy) -> Decision:
    """Every case is assigned at once, whatever its screening says (rule 1, D2)."""
    if state is not None:
        return state, []  # the same case announced again: it already has its referral
    case = CaseReferral(case_id=opened.case_id, agency_id=opened.agency_id, region=opened.region,
                        priority=opened.priority, languages=list(opened.languages))
    return assign_next(case, now, roster, policy, first=True)


def respond(state: CaseReferral | None, response: ReferralResponded, event_id: str, now: datetime,
            roster: Roster, policy: Policy) -> Decision:
    reason = reject_reason(state, response)
    if reason is not None:  # never applied, never silently dropped
        return state, [rejected(state, response, event_id, reason, now)]
    assert state is not None
    if state.offer is not None and state.offer.referral_id == response.referral_id:
        return answer_offer(state, response, now)
    assert state.current is not None
    current = state.current
    if response.response == ReferralResponseKind.ACCEPTED:
        accepted = current.model_copy(update={"accepted_at": now})
        state = state.model_copy(update={"status": "accepted", "current": accepted, "timers": {}})
        return state, [_accepted(state, accepted, now)]
    ended = _end(current, "declined", now, response.reason)
    declined = ReferralDeclined(**state.common(), referral_id=current.referral_id,
                                specialist_id=current.specialist_id, declined_at=now, reason=response.reason)
    state, events = assign_next(_ended(state, ended), now, roster, policy, previous=current)
    return state, [declined, *events]


def escalate_unacknowledged(state: CaseReferral | None, now: datetime, roster: Roster,
                            policy: Policy) -> Decision:
    """Not accepted by ``ack_due_at``: escalate, and reassign at once."""
    if state is None or state.status != "assigned" or state.current is None:
        return state, []
    current = state.current
    escalations = state.escalations + 1
    state = _ended(state, _end(current, "timed_out", now)).model_copy(update={"escalations": escalations})
    escalated = ReferralEscalated(**state.common(), referral_id=current.referral_id,
                                  specialist_id=current.specialist_id, assigned_at=current.assigned_at,
                                  ack_due_at=current.ack_due_at, escalated_at=now,
                                  scope=policy.scope(escalations))
    state, events = assign_next(state, now, roster, policy, previous=current)
    return state, [escalated, *events]


def retry_unassigned(state: CaseReferral | None, now: datetime, roster: Roster, policy: Policy) -> Decision:
    if state is None or state.status != "unassigned":
        return state, []
    return assign_next(state, now, roster, policy)


def realert_unassigned(state: CaseReferral | None, now: datetime, roster: Roster, policy: Policy) -> Decision:
    """Unassigned never goes quiet: look once more, and if still nobody, alert again (wider
    once the alerts go beyond ``max_escalations``)."""
    if state is None or state.status != "unassigned":
        return state, []
    after, events = assign_next(state, now, roster, policy)
    if after is None or after.status != "unassigned":
        return after, events
    state, alert = after, after.alert + 1
    state = state.model_copy(update={"alert": alert, "timers": {**state.timers, REALERT: now + policy.realert_every}})
    return state, [CaseUnassigned(**state.common(), unassigned_at=now, reason=_why_unassigned(state, still=True),
                                  scope=policy.scope(state.escalations, alert), alert=alert)]


def assign_next(state: CaseReferral, now: datetime, roster: Roster, policy: Policy, *,
                first: bool = False, previous: Assignment | None = None) -> Decision:
    """The best specialist now; or, if none, an unassigned case retried later."""
    chosen = choose(roster, state.region, state.languages, declined=state.declined(),
                    timed_out=state.timed_out(), hold=hold_token(state.case_id, state.attempts + 1))
    if chosen is None:
        return _unassigned(state, now, policy, announce=first or previous is not None, previous=previous)
    state, assigned = _assign(state, chosen, now, policy)
    return state, [assigned]


# -- a case's life ------------------------------------------------------------------------------

def close(state: CaseReferral | None, case_id: str, actor: Actor | None, reason: ClosureReason, event_id: str,
          now: datetime, roster: Roster) -> Decision:
    """Close: the holder's slot (and a handover offer's) is free at once, every timer disarmed."""
    refusal = close_refusal(state, actor, roster)
    if refusal is not None:
        if actor is None:  # a withdrawal of a case closed already (or never opened here): nothing to do
            return state, []
        return state, [action_rejected(state, case_id, CaseActionKind.CLOSE, actor, refusal, event_id, now)]
    assert state is not None
    current = state.current if state.holder else None
    history, released = list(state.history), []
    if state.offer is not None:
        history.append(_end(state.offer, "released", now, ReleaseReason.CASE_CLOSED.value))
        released.append(_released(state, state.offer, now, ReleaseReason.CASE_CLOSED))
    if current is not None:
        history.append(_end(current, "released", now, ReleaseReason.CASE_CLOSED.value))
    closure = Closure(at=now, reason=reason.value, by_id=actor.id if actor else None,
                      by_role=actor.role.value if actor else None,
                      specialist_id=current.specialist_id if current else None,
                      accepted=state.status == "accepted")
    state = state.model_copy(update={"status": "closed", "current": None, "offer": None, "history": history,
                                     "timers": {}, "closure": closure, "alert": 0, "needs_holder": False})
    applied = CaseClosureApplied(**state.common(), closed_at=now, closed_by=actor, reason=reason,
                                 referral_id=current.referral_id if current else None,
                                 released_specialist_id=current.specialist_id if current else None,
                                 request_event_id=event_id[:500])
    return state, [applied, *released]


def reopen(state: CaseReferral | None, request: CaseReopened, event_id: str, now: datetime, roster: Roster,
           policy: Policy) -> Decision:
    """Back to the previous holder if on duty with a free slot (whatever the decline history
    says), else matched anew; the timers follow from the new assignment."""
    refusal = reopen_refusal(state, request.reopened_by, roster)
    if refusal is not None:
        return state, [action_rejected(state, request.case_id, CaseActionKind.REOPEN, request.reopened_by,
                                       refusal, event_id, now)]
    assert state is not None and state.closure is not None
    previous = state.closure.specialist_id
    count = state.reopen_count + 1
    state = state.model_copy(update={"status": "unassigned", "closure": None, "reopen_count": count})
    applied = CaseReopeningApplied(**state.common(), reopened_at=now, reopened_by=request.reopened_by,
                                   reason=request.reason, reopen_count=count, previous_specialist_id=previous,
                                   request_event_id=event_id[:500])
    returning = roster.specialists.get(previous or "")
    if returning is not None and roster.available(returning.specialist_id) and returning.covers(state.region):
        state, assigned = _assign(state, returning, now, policy)
        return state, [applied, assigned]
    state, events = assign_next(state, now, roster, policy, first=True)
    return state, [applied, *events]


def reassign(state: CaseReferral | None, request: ReferralReassigned, event_id: str, now: datetime,
             roster: Roster, policy: Policy) -> Decision:
    """Move a case. An accepted holder stays responsible until the new specialist accepts (an
    offer); anything else is released at once and the new referral is current."""
    refusal = reassign_refusal(state, request, roster)
    chosen = _reassignee(state, request, roster) if refusal is None else None
    if chosen is None:
        return state, [action_rejected(state, request.case_id, CaseActionKind.REASSIGN, request.requested_by,
                                       refusal or CaseActionRejection.NOT_AVAILABLE, event_id, now)]
    assert state is not None
    actor, events = request.requested_by, list[Payload]()
    moved = {"reassigned_by": actor, "reassignment_reason": request.reason}
    if state.offer is not None:  # a newer decision replaces a pending offer
        events.append(_released(state, state.offer, now, ReleaseReason.REASSIGNED))
        state = state.model_copy(update={"offer": None, "timers": {}, "history": [
            *state.history, _end(state.offer, "released", now, ReleaseReason.REASSIGNED.value)]})
    holder = state.accepted_holder
    if holder is not None and not state.needs_holder:  # a handover: an offer, the holder stays
        offer = _assignment(state, chosen, now, policy, requested_by_role=actor.role.value, handover_from=holder)
        state = state.model_copy(update={"offer": offer, "attempts": offer.attempt,
                                         "timers": {OFFER: offer.ack_due_at}})
        return state, [*events, _assigned(state, offer, **moved, handover_from=holder)]
    current = state.current if state.holder else None
    if current is not None:  # unaccepted (or its holder left): released at once
        events.append(_released(state, current, now, ReleaseReason.REASSIGNED))
        state = _ended(state, _end(current, "released", now, ReleaseReason.REASSIGNED.value))
    state, assigned = _assign(state, chosen, now, policy, requested_by_role=actor.role.value, **moved)
    return state, [*events, assigned]


def answer_offer(state: CaseReferral, response: ReferralResponded, now: datetime) -> Decision:
    """The new specialist's answer to a handover: accepted, the old holder's slot goes; declined,
    the holder keeps the case (no escalation counted)."""
    assert state.offer is not None and state.current is not None
    offer, old = state.offer, state.current
    if response.response == ReferralResponseKind.DECLINED:
        declined = ReferralDeclined(**state.common(), referral_id=offer.referral_id,
                                    specialist_id=offer.specialist_id, declined_at=now, reason=response.reason)
        state, kept = _keep_holder(state, "declined", now, response.reason)
        return state, [declined, kept]
    why = ReleaseReason.HANDED_OVER if offer.requested_by_role == ActorRole.VICTIM_SPECIALIST.value \
        else ReleaseReason.REASSIGNED
    accepted = offer.model_copy(update={"accepted_at": now})
    released = _released(state, old, now, why)
    state = state.model_copy(update={"current": accepted, "offer": None, "timers": {}, "needs_holder": False,
                                     "history": [*state.history, _end(old, "released", now, why.value)]})
    return state, [released, _accepted(state, accepted, now)]


def offer_lapsed(state: CaseReferral | None, now: datetime) -> Decision:
    """A handover offer not accepted by its deadline: the holder keeps the case, no escalation."""
    if state is None or state.offer is None or state.status != "accepted":
        return state, []
    state, kept = _keep_holder(state, "lapsed", now)
    return state, [kept]


def depart(state: CaseReferral | None, departed: SpecialistDeparted, now: datetime, roster: Roster,
           policy: Policy) -> Decision:
    """A specialist left the roster (or went off duty): an unaccepted referral moves at once to
    the next candidate, no escalation counted; an accepted case needs a supervisor's choice;
    a handover offered to them is withdrawn (the holder keeps the case)."""
    specialist_id = departed.specialist_id
    if state is None or state.status == "closed" or roster.present(specialist_id):
        return state, []  # nothing held here, or back on duty meanwhile
    events: list[Payload] = []
    if state.offer is not None and state.offer.specialist_id == specialist_id:
        state, kept = _keep_holder(state, "released", now, ReleaseReason.SPECIALIST_DEPARTED.value)
        events.append(kept)
    current = state.current
    if current is None or current.specialist_id != specialist_id:
        return state, events
    if state.status == "assigned":
        events.append(_released(state, current, now, ReleaseReason.SPECIALIST_DEPARTED))
        state = _ended(state, _end(current, "released", now, ReleaseReason.SPECIALIST_DEPARTED.value))
        state, more = assign_next(state, now, roster, policy, previous=current)
        return state, [*events, *more]
    if state.status == "accepted" and not state.needs_holder:
        state = state.model_copy(update={"needs_holder": True})
        events.append(CaseNeedsHolder(**state.common(), referral_id=current.referral_id,
                                      specialist_id=specialist_id, flagged_at=now))
    return state, events


def _reassignee(state: CaseReferral | None, request: ReferralReassigned, roster: Roster) -> Specialist | None:
    """The named specialist (checked by the rules), or the best one but whoever has the case now."""
    if state is None:
        return None
    if request.to_specialist_id is not None:
        return roster.specialists[request.to_specialist_id]
    return choose(roster, state.region, state.languages, declined=state.declined() | state.involved(),
                  timed_out=state.timed_out(), hold=hold_token(state.case_id, state.attempts + 1))


# -- the pieces ---------------------------------------------------------------------------------

def _assignment(state: CaseReferral, chosen: Specialist, now: datetime, policy: Policy, *,
                requested_by_role: str | None = None, handover_from: str | None = None) -> Assignment:
    attempt = state.attempts + 1
    return Assignment(referral_id=referral_id_for(state.case_id, attempt), specialist_id=chosen.specialist_id,
                      attempt=attempt, assigned_at=now, ack_due_at=now + policy.ack_sla[state.priority],
                      language_match=chosen.speaks(state.languages), requested_by_role=requested_by_role,
                      handover_from=handover_from)


def _assign(state: CaseReferral, chosen: Specialist, now: datetime, policy: Policy, *,
            requested_by_role: str | None = None, **moved: object) -> tuple[CaseReferral, ReferralAssigned]:
    """A new current referral, waiting for its acknowledgement."""
    current = _assignment(state, chosen, now, policy, requested_by_role=requested_by_role)
    state = state.model_copy(update={"status": "assigned", "current": current, "attempts": current.attempt,
                                     "timers": {ACK: current.ack_due_at}, "alert": 0, "needs_holder": False})
    return state, _assigned(state, current, **moved)


def _assigned(state: CaseReferral, assignment: Assignment, **moved: object) -> ReferralAssigned:
    return ReferralAssigned(**state.common(), referral_id=assignment.referral_id,
                            specialist_id=assignment.specialist_id, assigned_at=assignment.assigned_at,
                            ack_due_at=assignment.ack_due_at, attempt=assignment.attempt,
                            language_match=assignment.language_match, **moved)  # type: ignore[arg-type]


def _accepted(state: CaseReferral, accepted: Assignment, now: datetime) -> ReferralAccepted:
    return ReferralAccepted(**state.common(), referral_id=accepted.referral_id,
                            specialist_id=accepted.specialist_id, assigned_at=accepted.assigned_at,
                            accepted_at=now, ack_due_at=accepted.ack_due_at)


def _released(state: CaseReferral, assignment: Assignment, now: datetime, reason: ReleaseReason) -> ReferralReleased:
    return ReferralReleased(**state.common(), referral_id=assignment.referral_id,
                            specialist_id=assignment.specialist_id, released_at=now, reason=reason)


def _keep_holder(state: CaseReferral, outcome: Outcome, now: datetime,
                 reason: str | None = None) -> tuple[CaseReferral, HolderKept]:
    """The handover offer ends without being accepted: the holder keeps the case."""
    offer, holder = state.offer, state.current
    assert offer is not None and holder is not None and holder.accepted_at is not None
    state = state.model_copy(update={"offer": None, "timers": {},
                                     "history": [*state.history, _end(offer, outcome, now, reason)]})
    return state, HolderKept(**state.common(), referral_id=holder.referral_id, specialist_id=holder.specialist_id,
                             assigned_at=holder.assigned_at, accepted_at=holder.accepted_at,
                             ack_due_at=holder.ack_due_at, declined_referral_id=offer.referral_id, kept_at=now)


def _end(assignment: Assignment, outcome: Outcome, now: datetime, reason: str | None = None) -> Ended:
    return Ended(referral_id=assignment.referral_id, specialist_id=assignment.specialist_id, outcome=outcome,
                 at=now, reason=reason)


def _unassigned(state: CaseReferral, now: datetime, policy: Policy, *, announce: bool,
                previous: Assignment | None) -> Decision:
    """Nobody now: retried every ``retry_every``; alerted now (if it just became unassigned)
    and again every ``realert_every``."""
    realert = now + policy.realert_every if announce else state.timers.get(REALERT, now + policy.realert_every)
    state = state.model_copy(update={"status": "unassigned", "current": None,
                                     "alert": 1 if announce else max(state.alert, 1),
                                     "timers": {RETRY: now + policy.retry_every, REALERT: realert}})
    if not announce:
        return state, []
    return state, [CaseUnassigned(**state.common(), unassigned_at=now, reason=_why_unassigned(state),
                                  scope=policy.scope(state.escalations, 1),
                                  previous_referral_id=previous.referral_id if previous else None,
                                  previous_specialist_id=previous.specialist_id if previous else None)]


def _why_unassigned(state: CaseReferral, *, still: bool = False) -> str:
    why = f"no on-duty victim specialist with free capacity covers {state.region}"
    if state.declined():
        why += " apart from those who declined it"
    return f"still {why}" if still else why


def _ended(state: CaseReferral, ended: Ended) -> CaseReferral:
    return state.model_copy(update={"history": [*state.history, ended], "current": None,
                                    "status": "unassigned", "timers": {}})
