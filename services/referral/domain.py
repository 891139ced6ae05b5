"""Referral rules, pure: assign at once, follow up, escalate (rule 1, D2, D4).

One aggregate per case (id = case id). A new case is assigned to the best on-duty
victim specialist without any human step; a decline or a missed acknowledgement
deadline reassigns it at once; when nobody can take it, the case is ``unassigned``
(the region's supervisors are alerted) and retried when the roster changes and every
``retry_every``. Nothing here reads certification or prosecution outcomes (rule 1).

The aggregate and its ``Policy`` are in :mod:`.state`; which responses are refused, as named
rules, in :mod:`.rules`; how the specialist is chosen in :mod:`.matching`.
"""

from __future__ import annotations

from datetime import datetime

from shared.contracts.common import Payload
from shared.contracts.inbound import ReferralResponded, ReferralResponseKind
from shared.contracts.intake import CaseOpened
from shared.contracts.referrals import (
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
)
from shared.kit import Inbound, TimerFired

from .matching import Roster, choose
from .rules import reject_reason, rejected
from .state import ACK, RETRY, Assignment, CaseReferral, Ended, Policy, hold_token, referral_id_for

Decision = tuple[CaseReferral | None, list[Payload]]


def decide(state: CaseReferral | None, event: Inbound, now: datetime, *, roster: Roster,
           policy: Policy) -> Decision:
    match event.data:
        case CaseOpened() as opened:
            return open_case(state, opened, now, roster, policy)
        case ReferralResponded() as response:
            return respond(state, response, event.id, now, roster, policy)
        case TimerFired(name=name) if name == ACK:
            return escalate_unacknowledged(state, now, roster, policy)
        case TimerFired(name=name) if name == RETRY:
            return retry_unassigned(state, now, roster, policy)
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
    assert state is not None and state.current is not None
    current = state.current
    if response.response == ReferralResponseKind.ACCEPTED:
        accepted = current.model_copy(update={"accepted_at": now})
        state = state.model_copy(update={"status": "accepted", "current": accepted, "timers": {}})
        return state, [ReferralAccepted(**state.common(), referral_id=current.referral_id,
                                        specialist_id=current.specialist_id, assigned_at=current.assigned_at,
                                        accepted_at=now, ack_due_at=current.ack_due_at)]
    ended = Ended(referral_id=current.referral_id, specialist_id=current.specialist_id,
                  outcome="declined", at=now, reason=response.reason)
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
    ended = Ended(referral_id=current.referral_id, specialist_id=current.specialist_id,
                  outcome="timed_out", at=now)
    state = _ended(state, ended).model_copy(update={"escalations": escalations})
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


def assign_next(state: CaseReferral, now: datetime, roster: Roster, policy: Policy, *,
                first: bool = False, previous: Assignment | None = None) -> Decision:
    """The best specialist now; or, if none, an unassigned case retried later."""
    chosen = choose(roster, state.region, state.languages, declined=state.declined(),
                    timed_out=state.timed_out(), hold=hold_token(state.case_id, state.attempts + 1))
    if chosen is None:
        return _unassigned(state, now, policy, announce=first or previous is not None, previous=previous)
    attempt = state.attempts + 1
    current = Assignment(referral_id=referral_id_for(state.case_id, attempt), specialist_id=chosen.specialist_id,
                         attempt=attempt, assigned_at=now, ack_due_at=now + policy.ack_sla[state.priority],
                         language_match=chosen.speaks(state.languages))
    state = state.model_copy(update={"status": "assigned", "current": current, "attempts": attempt,
                                     "timers": {ACK: current.ack_due_at}})
    return state, [ReferralAssigned(**state.common(), referral_id=current.referral_id,
                                    specialist_id=current.specialist_id, assigned_at=now,
                                    ack_due_at=current.ack_due_at, attempt=attempt,
                                    language_match=current.language_match)]


def _unassigned(state: CaseReferral, now: datetime, policy: Policy, *, announce: bool,
                previous: Assignment | None) -> Decision:
    state = state.model_copy(update={"status": "unassigned", "current": None,
                                     "timers": {RETRY: now + policy.retry_every}})
    if not announce:
        return state, []
    why = f"no on-duty victim specialist with free capacity covers {state.region}"
    if state.declined():
        why += " apart from those who declined it"
    return state, [CaseUnassigned(**state.common(), unassigned_at=now, reason=why,
                                  scope=policy.scope(state.escalations),
                                  previous_referral_id=previous.referral_id if previous else None,
                                  previous_specialist_id=previous.specialist_id if previous else None)]


def _ended(state: CaseReferral, ended: Ended) -> CaseReferral:
    return state.model_copy(update={"history": [*state.history, ended], "current": None,
                                    "status": "unassigned", "timers": {}})
