"""Who may read a person's identity, pure: intake's fold of who holds each case.

Only the specialist who accepted the case's current referral, while the case is open, reads
(docs/design.md, Identity reads). Each rule below, redelivery, and events of older
referrals arriving after newer ones.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.intake import holders
from services.intake.holders import Holding, Refusal
from shared.contracts.inbound import ClosureReason, ReassignmentReason
from shared.contracts.referrals import ReleaseReason
from shared.kit import Inbound
from tests.support import status as ev
from tests.support.status import T0

CASE = "case-h1"
M = timedelta(minutes=1)


def at(minutes: int):
    return T0 + minutes * M


def fold(*payloads, state: Holding | None = None) -> Holding:
    for payload in payloads:
        state, out = holders.decide(state, ev.inbound(payload), T0)
        assert out == []  # the read model publishes nothing
    assert state is not None
    return state


def reader(state: Holding) -> str | None:
    return state.holder


def may(state: Holding, actor: str, role: str = "specialist") -> bool:
    return holders.refusal(state, actor, role) is None


OPENED = ev.case_opened(CASE)
ASSIGNED = ev.assigned(CASE, "r1", "sp-1", at=at(1))
ACCEPTED = ev.accepted(CASE, "r1", "sp-1", assigned_at=at(1), at=at(2))


def held_by_sp1() -> Holding:
    return fold(OPENED, ASSIGNED, ACCEPTED)


def test_the_accepting_specialist_reads_and_nobody_else() -> None:
    state = held_by_sp1()
    assert state.case_file == f"TX-DPS|ENC-{CASE}"
    assert may(state, "sp-1")
    assert holders.refusal(state, "sp-2", "specialist") == Refusal.NOT_THE_HOLDER
    for role in ("supervisor", "analyst", "auditor", "anonymous", "victim_specialist"):
        assert holders.refusal(state, "sp-1", role) == Refusal.NOT_A_SPECIALIST


def test_an_assigned_referral_not_yet_accepted_reads_nothing() -> None:
    state = fold(OPENED, ASSIGNED)
    assert reader(state) is None and holders.refusal(state, "sp-1", "specialist") == Refusal.NO_HOLDER


def test_an_unknown_case_and_a_case_whose_opening_was_not_folded_are_refused_alike() -> None:
    assert holders.refusal(None, "sp-1", "specialist") == Refusal.UNKNOWN_CASE
    assert holders.refusal(fold(ASSIGNED, ACCEPTED), "sp-1", "specialist") == Refusal.UNKNOWN_CASE
    assert may(fold(ASSIGNED, ACCEPTED, OPENED), "sp-1")  # the opening arrived on its own topic later


def test_a_supervisor_moving_the_case_refuses_the_holder_at_once_and_the_new_one_until_accepted() -> None:
    move = ev.assigned(CASE, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.supervisor(),
                       reason=ReassignmentReason.CONFLICT_OF_INTEREST, handover_from="sp-1")
    state = fold(move, state=held_by_sp1())
    assert not may(state, "sp-1") and not may(state, "sp-2")
    released = ev.released(CASE, "r1", "sp-1", at=at(12), reason=ReleaseReason.REASSIGNED)
    state = fold(released, ev.accepted(CASE, "r2", "sp-2", assigned_at=at(10), at=at(12)), state=state)
    assert reader(state) == "sp-2" and not may(state, "sp-1")


def test_a_supervisor_moving_an_unaccepted_case_makes_the_new_referral_current() -> None:
    state = fold(OPENED, ASSIGNED, ev.released(CASE, "r1", "sp-1", at=at(5), reason=ReleaseReason.REASSIGNED),
                 ev.assigned(CASE, "r2", "sp-2", at=at(5), attempt=2, reassigned_by=ev.supervisor()))
    assert reader(state) is None
    assert reader(fold(ev.accepted(CASE, "r2", "sp-2", assigned_at=at(5), at=at(6)), state=state)) == "sp-2"


def test_a_supervisors_move_that_is_declined_gives_the_holder_the_case_back() -> None:
    move = ev.assigned(CASE, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.supervisor(), handover_from="sp-1")
    state = fold(move, ev.declined(CASE, "r2", "sp-2", at=at(11)),
                 ev.holder_kept(CASE, "r1", "sp-1", assigned_at=at(1), accepted_at=at(2), declined_referral_id="r2",
                                at=at(11)), state=held_by_sp1())
    assert reader(state) == "sp-1" and not may(state, "sp-2")


def test_a_handover_keeps_the_holder_reading_until_the_new_specialist_accepts() -> None:
    offer = ev.assigned(CASE, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.specialist("sp-1"),
                        reason=ReassignmentReason.HANDOVER, handover_from="sp-1")
    state = fold(offer, state=held_by_sp1())
    assert reader(state) == "sp-1" and not may(state, "sp-2")
    # as the referral service answers an accepted offer: the holder released, then the acceptance
    done = fold(ev.released(CASE, "r1", "sp-1", at=at(12), reason=ReleaseReason.HANDED_OVER),
                ev.accepted(CASE, "r2", "sp-2", assigned_at=at(10), at=at(12)), state=state)
    assert reader(done) == "sp-2" and not may(done, "sp-1")


def test_a_declined_or_lapsed_handover_leaves_the_holder_reading() -> None:
    offer = ev.assigned(CASE, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.specialist("sp-1"),
                        handover_from="sp-1")
    kept = ev.holder_kept(CASE, "r1", "sp-1", assigned_at=at(1), accepted_at=at(2), declined_referral_id="r2",
                          at=at(20))
    state = fold(offer, ev.declined(CASE, "r2", "sp-2", at=at(20)), kept, state=held_by_sp1())
    assert reader(state) == "sp-1" and state.offer is None
    late = fold(ev.accepted(CASE, "r2", "sp-2", assigned_at=at(10), at=at(21)), state=state)
    assert reader(late) == "sp-1"  # the declined offer's late acceptance gives it nothing


def test_closed_and_withdrawn_cases_are_read_by_nobody() -> None:
    close = ev.closed(CASE, at=at(30), by=ev.specialist("sp-1"), released="sp-1", referral_id="r1")
    assert reader(fold(close, state=held_by_sp1())) is None
    assert reader(fold(ev.withdrawn(CASE, at=at(30)), state=held_by_sp1())) is None
    withdrawal = ev.closed(CASE, at=at(30), by=None, reason=ClosureReason.WITHDRAWN, released="sp-1",
                           referral_id="r1")
    assert reader(fold(ev.withdrawn(CASE, at=at(30)), withdrawal, state=held_by_sp1())) is None


def test_a_reopened_case_is_read_again_only_once_a_referral_is_accepted() -> None:
    close = ev.closed(CASE, at=at(30), by=ev.specialist("sp-1"), released="sp-1", referral_id="r1")
    reopen = ev.reopened(CASE, at=at(40), by=ev.supervisor(), previous="sp-1")
    state = fold(close, reopen, state=held_by_sp1())
    assert not state.closed and reader(state) is None
    state = fold(ev.assigned(CASE, "r2", "sp-1", at=at(40), attempt=2), state=state)
    assert reader(state) is None
    assert reader(fold(ev.accepted(CASE, "r2", "sp-1", assigned_at=at(40), at=at(41)), state=state)) == "sp-1"


def test_a_withdrawn_case_stays_unread_even_if_reopened() -> None:
    state = fold(ev.withdrawn(CASE, at=at(30)), ev.reopened(CASE, at=at(40), by=ev.supervisor()),
                 ev.assigned(CASE, "r2", "sp-1", at=at(40), attempt=2),
                 ev.accepted(CASE, "r2", "sp-1", assigned_at=at(40), at=at(41)), state=held_by_sp1())
    assert reader(state) is None


def test_a_holder_who_left_the_roster_is_refused_until_a_new_holder_accepts() -> None:
    state = fold(ev.needs_holder(CASE, "r1", "sp-1", at=at(30)), state=held_by_sp1())
    assert reader(state) is None and not may(state, "sp-1")
    # a supervisor's reassignment: the departed holder's referral released, a new one current
    state = fold(ev.released(CASE, "r1", "sp-1", at=at(40), reason=ReleaseReason.REASSIGNED),
                 ev.assigned(CASE, "r2", "sp-3", at=at(40), attempt=2, reassigned_by=ev.supervisor()), state=state)
    assert reader(state) is None
    assert reader(fold(ev.accepted(CASE, "r2", "sp-3", assigned_at=at(40), at=at(41)), state=state)) == "sp-3"


def test_a_decline_or_an_escalation_leaves_nobody_reading_until_the_next_acceptance() -> None:
    state = fold(OPENED, ASSIGNED, ev.escalated(CASE, "r1", "sp-1", assigned_at=at(1)),
                 ev.assigned(CASE, "r2", "sp-2", at=at(16), attempt=2), ev.declined(CASE, "r2", "sp-2", at=at(17)),
                 ev.unassigned(CASE, at=at(17)))
    assert reader(state) is None and state.ended == ["r1", "r2"]
    state = fold(ev.assigned(CASE, "r3", "sp-3", at=at(20), attempt=3),
                 ev.accepted(CASE, "r3", "sp-3", assigned_at=at(20), at=at(21)), state=state)
    assert reader(state) == "sp-3"


def test_events_of_an_older_referral_arriving_late_undo_nothing() -> None:
    move = [ev.released(CASE, "r1", "sp-1", at=at(10), reason=ReleaseReason.REASSIGNED),
            ev.assigned(CASE, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.supervisor()),
            ev.accepted(CASE, "r2", "sp-2", assigned_at=at(10), at=at(11))]
    state = fold(*move, state=held_by_sp1())
    assert reader(state) == "sp-2"
    late = [ASSIGNED, ACCEPTED,  # r1 again, under other ids
            ev.holder_kept(CASE, "r1", "sp-1", assigned_at=at(1), accepted_at=at(2), declined_referral_id="r0",
                           at=at(3)),
            ev.needs_holder(CASE, "r1", "sp-1", at=at(4)),
            ev.unassigned(CASE, at=at(4)).model_copy(update={"previous_referral_id": "r1"}),
            ev.closed(CASE, at=at(5), by=ev.supervisor(), released="sp-1", referral_id="r1")]
    for event in late:
        after = fold(event, state=state)
        assert reader(after) == "sp-2", type(event).__name__
        assert after.model_copy(update={"ended": state.ended}) == state  # at most one more referral noted ended


def test_an_older_reopening_is_not_applied_twice() -> None:
    close = ev.closed(CASE, at=at(30), by=ev.supervisor(), released="sp-1", referral_id="r1")
    state = fold(close, ev.reopened(CASE, at=at(40), by=ev.supervisor(), count=1),
                 ev.assigned(CASE, "r2", "sp-1", at=at(40), attempt=2),
                 ev.accepted(CASE, "r2", "sp-1", assigned_at=at(40), at=at(41)), state=held_by_sp1())
    assert reader(fold(ev.reopened(CASE, at=at(40), by=ev.supervisor(), count=1), state=state)) == "sp-1"


def test_an_assignment_of_a_lower_attempt_than_seen_is_an_older_one() -> None:
    state = fold(OPENED, ev.assigned(CASE, "r5", "sp-5", at=at(10), attempt=5),
                 ev.accepted(CASE, "r5", "sp-5", assigned_at=at(10), at=at(11)))
    after = fold(ev.assigned(CASE, "r4", "sp-4", at=at(9), attempt=4), state=state)
    assert reader(after) == "sp-5" and after == state


LIFE = [OPENED, ASSIGNED, ACCEPTED,
        ev.assigned(CASE, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.specialist("sp-1"),
                    handover_from="sp-1"),
        ev.released(CASE, "r1", "sp-1", at=at(12), reason=ReleaseReason.HANDED_OVER),
        ev.accepted(CASE, "r2", "sp-2", assigned_at=at(10), at=at(12)),
        ev.needs_holder(CASE, "r2", "sp-2", at=at(20)),
        ev.closed(CASE, at=at(30), by=ev.supervisor(), released="sp-2", referral_id="r2"),
        ev.reopened(CASE, at=at(40), by=ev.supervisor()),
        ev.assigned(CASE, "r3", "sp-3", at=at(40), attempt=3),
        ev.accepted(CASE, "r3", "sp-3", assigned_at=at(40), at=at(41))]


@pytest.mark.parametrize("repeated", range(len(LIFE)))
def test_an_event_folded_twice_changes_nothing_the_second_time(repeated: int) -> None:
    """The kit drops a redelivered event id; the fold is idempotent anyway (a re-sent copy)."""
    once = fold(*LIFE)
    twice = fold(*LIFE[:repeated + 1], LIFE[repeated], *LIFE[repeated + 1:])
    assert twice == once and reader(once) == "sp-3"


def test_the_fold_takes_every_event_of_its_topics_and_ignores_refusals() -> None:
    state = held_by_sp1()
    refused = ev.action_rejected(CASE, at=at(5), actor=ev.supervisor())
    assert fold(refused, state=state) == state
    event = Inbound(id="x", type=OPENED.TYPE, data=OPENED, subject=CASE)
    new, out = holders.decide(None, event, T0)
    assert new is not None and new.case_id == CASE and out == []
