"""Referral decisions, pure: assign at once, respond, escalate, retry (rule 1, D2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.referral import domain
from services.referral.matching import Roster, Specialist
from services.referral.state import ACK, REALERT, RETRY, CaseReferral, Policy, referral_id_for
from shared.contracts.common import AgencyLevel, Priority
from shared.contracts.inbound import ReferralResponded, ReferralResponseKind
from shared.contracts.intake import CaseOpened, Screening
from shared.contracts.referrals import (
    CaseUnassigned,
    NotificationScope,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
    ReferralResponseRejected,
    RejectionReason,
)
from shared.kit import Inbound, TimerFired

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = Policy({Priority.URGENT: timedelta(minutes=5), Priority.HIGH: timedelta(minutes=15),
                        Priority.NORMAL: timedelta(minutes=30)}, max_escalations=2)


def sp(specialist_id: str, languages: str = "en", **kw) -> Specialist:
    return Specialist(specialist_id, frozenset(languages.split()), ("US-TX",), kw.pop("on_duty", True),
                      kw.pop("max_cases", 10), **kw)


ROSTER = Roster.of([sp("a", "es"), sp("b"), sp("c")])


def opened(case_id: str = "case-1", priority: Priority = Priority.NORMAL) -> Inbound:
    data = CaseOpened(case_id=case_id, encounter_id="ENC-1", agency_id="TX-DPS", agency_level=AgencyLevel.STATE,
                      officer_id="o-1", region="US-TX", occurred_at=T0, opened_at=T0, languages=["es"],
                      interpreter_needed=False, urgent_needs=[], priority=priority, minor=False,
                      screening=Screening(categories={}, indicator_count=0))
    return Inbound(id=f"opened-{case_id}", type=data.TYPE, data=data)


def response(state: CaseReferral | None, kind: str = "accepted", *, referral_id: str | None = None,
             specialist_id: str | None = None, reason: str | None = None, case_id: str = "case-1") -> Inbound:
    current = state.current if state else None
    data = ReferralResponded(case_id=case_id, referral_id=referral_id or (current.referral_id if current else "r"),
                             specialist_id=specialist_id or (current.specialist_id if current else "a"),
                             response=ReferralResponseKind(kind), reason=reason)
    return Inbound(id=f"resp-{kind}-{data.referral_id}-{data.specialist_id}", type=data.TYPE, data=data)


def timer(name: str, due_at: datetime) -> Inbound:
    return Inbound.timer("case-1", name, due_at)


def run(state, event, now=T0, roster=ROSTER):
    return domain.decide(state, event, now, roster=roster, policy=POLICY)


@pytest.mark.parametrize(("priority", "sla"), [(Priority.URGENT, 5), (Priority.HIGH, 15), (Priority.NORMAL, 30)])
def test_a_new_case_is_assigned_at_once_with_the_priority_sla(priority, sla) -> None:
    state, [assigned] = run(None, opened(priority=priority))
    assert isinstance(assigned, ReferralAssigned)
    assert (assigned.specialist_id, assigned.attempt, assigned.language_match) == ("a", 1, True)
    assert assigned.ack_due_at == T0 + timedelta(minutes=sla) and assigned.assigned_at == T0
    assert assigned.referral_id == referral_id_for("case-1", 1)  # fixed: re-made decisions agree
    assert state.status == "assigned" and state.timers == {ACK: assigned.ack_due_at}
    assert state.holder == ("a", "case-1#1")


def test_the_same_case_announced_again_changes_nothing() -> None:
    state, _ = run(None, opened())
    again, events = run(state, opened())
    assert again == state and events == []


def test_no_candidate_is_announced_at_once_and_retried() -> None:
    state, [unassigned] = run(None, opened(), roster=Roster())
    assert isinstance(unassigned, CaseUnassigned) and unassigned.scope == NotificationScope.REGION
    assert (unassigned.region, unassigned.agency_id, unassigned.priority) == ("US-TX", "TX-DPS", Priority.NORMAL)
    assert state.status == "unassigned" and state.holder is None
    assert state.timers == {RETRY: T0 + POLICY.retry_every, REALERT: T0 + POLICY.realert_every}
    later = T0 + POLICY.retry_every
    still, events = run(state, timer(RETRY, later), now=later, roster=Roster())
    assert events == []  # announced once, alerted again at the re-alert, not at every retry
    assert still.timers == {RETRY: later + POLICY.retry_every, REALERT: T0 + POLICY.realert_every}
    assigned_state, [assigned] = run(still, timer(RETRY, later), now=later)
    assert isinstance(assigned, ReferralAssigned) and assigned_state.status == "assigned"


def test_accept() -> None:
    state, _ = run(None, opened())
    later = T0 + timedelta(minutes=3)
    accepted_state, [accepted] = run(state, response(state), now=later)
    assert isinstance(accepted, ReferralAccepted)
    assert (accepted.accepted_at, accepted.assigned_at, accepted.specialist_id) == (later, T0, "a")
    assert accepted_state.status == "accepted" and accepted_state.timers == {}
    assert accepted_state.holder == ("a", "case-1#1")  # accepted cases keep counting


def test_decline_reassigns_at_once_to_someone_else_and_keeps_the_reason() -> None:
    state, _ = run(None, opened())
    after, [declined, assigned] = run(state, response(state, "declined", reason="on leave"))
    assert isinstance(declined, ReferralDeclined) and declined.reason == "on leave"
    assert declined.specialist_id == "a" and isinstance(assigned, ReferralAssigned)
    assert assigned.specialist_id != "a" and assigned.attempt == 2
    assert after.history[-1].reason == "on leave" and after.history[-1].outcome == "declined"
    _, [_, assigned3] = run(after, response(after, "declined"))
    assert assigned3.specialist_id not in {"a", assigned.specialist_id}


def test_decline_by_the_only_specialist_leaves_the_case_unassigned() -> None:
    roster = Roster.of([sp("a")])
    state, _ = run(None, opened(), roster=roster)
    after, [_, unassigned] = run(state, response(state, "declined"), roster=roster)
    assert isinstance(unassigned, CaseUnassigned)
    assert (unassigned.previous_referral_id, unassigned.previous_specialist_id) == (state.current.referral_id, "a")
    later = T0 + POLICY.retry_every
    _, events = run(after, timer(RETRY, later), now=later, roster=roster)
    assert events == []  # never the same specialist after a decline


def test_responses_that_cannot_apply_are_rejected_never_applied() -> None:
    state, _ = run(None, opened())
    first = state.current
    declined_state, _ = run(state, response(state, "declined"))
    accepted_state, _ = run(declined_state, response(declined_state))
    table = [
        (None, response(None, case_id="case-1"), RejectionReason.UNKNOWN_CASE),
        (state, response(state, referral_id="ref-nope"), RejectionReason.UNKNOWN_REFERRAL),
        (declined_state, response(declined_state, referral_id=first.referral_id, specialist_id="a"),
         RejectionReason.SUPERSEDED),
        (state, response(state, specialist_id="b"), RejectionReason.WRONG_SPECIALIST),
        (accepted_state, response(accepted_state), RejectionReason.ALREADY_ANSWERED),
        (accepted_state, response(accepted_state, "declined"), RejectionReason.ALREADY_ANSWERED),
    ]
    for before, event, reason in table:
        after, [rejected] = run(before, event)
        assert isinstance(rejected, ReferralResponseRejected) and rejected.rejection == reason
        assert rejected.response_event_id == event.id and after == before, reason


def test_escalation_reassigns_and_widens_after_max_escalations() -> None:
    roster = Roster.of([sp("a"), sp("b")])
    state, _ = run(None, opened(priority=Priority.URGENT), roster=roster)
    now, scopes, specialists = T0, [], [state.current.specialist_id]
    for expected in (1, 2, 3):
        now = state.current.ack_due_at
        state, [escalated, assigned] = run(state, timer(ACK, now), now=now, roster=roster)
        assert isinstance(escalated, ReferralEscalated) and escalated.escalations == expected
        assert escalated.ack_due_at == now and escalated.specialist_id == specialists[-1]
        assert isinstance(assigned, ReferralAssigned) and assigned.escalations == expected
        assert assigned.ack_due_at == now + timedelta(minutes=5)
        scopes.append(escalated.scope)
        specialists.append(assigned.specialist_id)
    assert scopes == [NotificationScope.REGION, NotificationScope.REGION, NotificationScope.ALL]
    # a timeout excludes from the next choice; with nobody else left, the least bad choice
    assert specialists == ["a", "b", "a", "b"]


def test_escalation_with_nobody_left_announces_an_unassigned_case() -> None:
    roster = Roster.of([sp("a")])
    state, _ = run(None, opened(), roster=roster)
    due = state.current.ack_due_at
    _, [escalated, unassigned] = run(state, timer(ACK, due), now=due,
                                     roster=Roster.of([sp("a", on_duty=False)]))
    assert isinstance(escalated, ReferralEscalated) and isinstance(unassigned, CaseUnassigned)
    assert unassigned.escalations == 1


def test_a_stale_ack_timer_after_acceptance_does_nothing() -> None:
    state, _ = run(None, opened())
    accepted, _ = run(state, response(state))
    after, events = run(accepted, timer(ACK, state.current.ack_due_at))
    assert events == [] and after == accepted


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="does not handle"):
        run(None, Inbound(id="x", type="casework.other.v1", data=TimerFired("nope", T0)))
