"""The status projection of a case's life, pure: close, reopen, handover, a holder who left,
corrections, and escalations that stay visible until the next specialist accepts."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.status import domain, timeline
from shared.contracts.common import Priority
from shared.contracts.inbound import ClosureReason, ReassignmentReason
from shared.contracts.referrals import ReleaseReason
from shared.contracts.status import ReferralStatus, Stage
from tests.support import status as ev
from tests.support.status import T0
from tests.unit.test_status_projection import run

CASE = "case-life"
M = timedelta(minutes=1)


def at(minutes: int):
    return T0 + minutes * M


def accepted_by(specialist: str = "sp-1", referral: str = "r1") -> list:
    return [ev.inbound(ev.case_opened(CASE), at=T0),
            ev.inbound(ev.assigned(CASE, referral, specialist, at=at(1)), at=at(1)),
            ev.inbound(ev.accepted(CASE, referral, specialist, assigned_at=at(1), at=at(3)), at=at(3))]


def test_a_closed_case_is_in_the_closed_stage_with_its_closure() -> None:
    close = ev.closed(CASE, at=at(60), by=ev.specialist("sp-1"), released="sp-1", referral_id="r1")
    _, published = run([*accepted_by(), ev.inbound(close, at=at(60))])
    snap = published[-1]
    assert snap.stage == Stage.CLOSED and snap.version == 4
    assert snap.closure is not None and snap.closure.at == at(60)
    assert snap.closure.reason == ClosureReason.SERVICES_COMPLETED
    assert snap.referral.specialist_id == "sp-1"  # who held it stays readable


def test_a_reopened_case_is_staged_from_its_current_state_and_counts_the_reopening() -> None:
    close = ev.inbound(ev.closed(CASE, at=at(60), by=ev.supervisor(), released="sp-1"), at=at(60))
    reopen = ev.inbound(ev.reopened(CASE, at=at(90), by=ev.supervisor(), previous="sp-1"), at=at(90))
    state, published = run([*accepted_by(), close, reopen])
    assert published[-1].stage == Stage.ENGAGED and published[-1].closure is None
    assert published[-1].reopen_count == 1
    again = ev.inbound(ev.assigned(CASE, "r2", "sp-1", at=at(91), attempt=2), at=at(91))
    _, [snap] = run([again], state)
    assert snap.stage == Stage.REFERRAL and snap.referral.status == ReferralStatus.ASSIGNED
    close2 = ev.inbound(ev.closed(CASE, at=at(120), by=ev.supervisor()), at=at(120))
    reopen2 = ev.inbound(ev.reopened(CASE, at=at(130), by=ev.supervisor(), count=2), at=at(130))
    _, published = run([close2, reopen2], state)
    assert [p.stage for p in published] == [Stage.CLOSED, Stage.ENGAGED] and published[-1].reopen_count == 2


def test_a_handover_keeps_the_holder_until_the_new_specialist_accepts() -> None:
    offer = ev.inbound(ev.assigned(CASE, "r2", "sp-2", at=at(30), attempt=2, reassigned_by=ev.specialist("sp-1"),
                                   reason=ReassignmentReason.HANDOVER, handover_from="sp-1"), at=at(30))
    state, [snap] = run([offer], run(accepted_by())[0])
    assert (snap.referral.specialist_id, snap.referral.status, snap.referral.handover_to) == (
        "sp-1", ReferralStatus.ACCEPTED, "sp-2")
    assert snap.stage == Stage.ENGAGED
    [move] = snap.reassignments
    assert (move.at, move.from_specialist_id, move.to_specialist_id, move.reason, move.requested_by_role) == (
        at(30), "sp-1", "sp-2", ReassignmentReason.HANDOVER, "victim_specialist")
    take = ev.inbound(ev.accepted(CASE, "r2", "sp-2", assigned_at=at(30), at=at(35)), at=at(35))
    done = ev.inbound(ev.released(CASE, "r1", "sp-1", at=at(35), reason=ReleaseReason.HANDED_OVER), at=at(35))
    _, published = run([take, done], state)
    for snap in published:
        assert (snap.referral.specialist_id, snap.referral.referral_id, snap.referral.handover_to) == (
            "sp-2", "r2", None)
    # The release coming first changes nothing either (whatever its reason): the accept says who holds it.
    moved = ev.inbound(ev.released(CASE, "r1", "sp-1", at=at(35), reason=ReleaseReason.REASSIGNED), at=at(35))
    for release in (done, moved):
        _, published = run([release, take], state)
        assert [(p.referral.specialist_id, p.referral.status) for p in published] == [
            ("sp-1", ReferralStatus.ACCEPTED), ("sp-2", ReferralStatus.ACCEPTED)]


def test_a_declined_handover_keeps_the_holder_and_clears_the_offer() -> None:
    offer = ev.inbound(ev.assigned(CASE, "r2", "sp-2", at=at(30), attempt=2, reassigned_by=ev.supervisor(),
                                   reason=ReassignmentReason.WORKLOAD, handover_from="sp-1"), at=at(30))
    no = ev.inbound(ev.declined(CASE, "r2", "sp-2", at=at(32)), at=at(32))
    kept = ev.inbound(ev.holder_kept(CASE, "r1", "sp-1", assigned_at=at(1), accepted_at=at(3),
                                     declined_referral_id="r2", at=at(32)), at=at(32))
    state, published = run([*accepted_by(), offer, no, kept])
    snap = published[-1]
    assert (snap.referral.specialist_id, snap.referral.referral_id, snap.referral.status) == (
        "sp-1", "r1", ReferralStatus.ACCEPTED)
    assert snap.referral.handover_to is None and snap.referral.escalations == 0
    assert snap.reassignments[0].requested_by_role == "supervisor"
    assert "keeps the case" in state.timeline[-1].text


def test_a_supervisor_move_of_an_unaccepted_referral_names_who_it_was_taken_from() -> None:
    opened = ev.inbound(ev.case_opened(CASE), at=T0)
    first = ev.inbound(ev.assigned(CASE, "r1", "sp-1", at=at(1)), at=at(1))
    gone = ev.inbound(ev.released(CASE, "r1", "sp-1", at=at(5), reason=ReleaseReason.REASSIGNED), at=at(5))
    moved = ev.inbound(ev.assigned(CASE, "r2", "sp-3", at=at(5), attempt=2, reassigned_by=ev.supervisor(),
                                   reason=ReassignmentReason.LANGUAGE), at=at(5))
    _, published = run([opened, first, gone, moved])
    assert published[-2].referral.status == ReferralStatus.UNASSIGNED  # released, not yet assigned
    snap = published[-1]
    assert (snap.referral.specialist_id, snap.referral.status) == ("sp-3", ReferralStatus.ASSIGNED)
    assert [(m.from_specialist_id, m.to_specialist_id) for m in snap.reassignments] == [("sp-1", "sp-3")]


def test_a_case_whose_holder_left_needs_a_holder_until_a_new_one_accepts() -> None:
    flag = ev.inbound(ev.needs_holder(CASE, "r1", "sp-1", at=at(40)), at=at(40))
    offer = ev.inbound(ev.assigned(CASE, "r2", "sp-2", at=at(45), attempt=2, reassigned_by=ev.supervisor(),
                                   reason=ReassignmentReason.OTHER, handover_from="sp-1"), at=at(45))
    take = ev.inbound(ev.accepted(CASE, "r2", "sp-2", assigned_at=at(45), at=at(50)), at=at(50))
    _, published = run([*accepted_by(), flag, offer, take])
    assert [p.referral.needs_holder for p in published[-3:]] == [True, True, False]
    assert published[-2].referral.handover_to == "sp-2" and published[-1].referral.specialist_id == "sp-2"


def test_escalated_stays_until_the_next_specialist_accepts() -> None:
    opened = ev.inbound(ev.case_opened(CASE), at=T0)
    first = ev.inbound(ev.assigned(CASE, "r1", "sp-1", at=at(1)), at=at(1))
    late = ev.inbound(ev.escalated(CASE, "r1", "sp-1", assigned_at=at(1)), at=at(16))
    nobody = ev.inbound(ev.unassigned(CASE, at=at(16), escalations=1), at=at(16))
    again = ev.inbound(ev.unassigned(CASE, at=at(46), escalations=1, alert=2), at=at(46))
    second = ev.inbound(ev.assigned(CASE, "r2", "sp-2", at=at(50), attempt=2, escalations=1), at=at(50))
    take = ev.inbound(ev.accepted(CASE, "r2", "sp-2", assigned_at=at(50), at=at(55), escalations=1), at=at(55))
    third = ev.inbound(ev.assigned(CASE, "r3", "sp-3", at=at(70), attempt=3, escalations=1), at=at(70))
    _, published = run([opened, first, late, nobody, again, second, take])
    assert [p.referral.status for p in published[1:]] == [
        ReferralStatus.ASSIGNED, ReferralStatus.ESCALATED, ReferralStatus.UNASSIGNED, ReferralStatus.UNASSIGNED,
        ReferralStatus.ESCALATED, ReferralStatus.ACCEPTED]
    assert [p.referral.unassigned_alerts for p in published[3:]] == [1, 2, 0, 0]
    assert published[-2].referral.ack_due_at == at(65)  # the new referral's deadline is shown
    _, [snap] = run([third], run([opened, first, late, second, take])[0])  # a later move: not escalated
    assert snap.referral.status == ReferralStatus.ASSIGNED


def test_a_correction_recomputes_priority_minor_screening_and_languages() -> None:
    fix2 = ev.inbound(ev.corrected(CASE, 2, at=at(20)), at=at(20))
    fix1 = ev.inbound(ev.corrected(CASE, 1, at=at(10), minor=False, priority=Priority.NORMAL), at=at(10))
    state, published = run([*accepted_by(), fix2, fix1])
    snap = domain.snapshot(state)
    assert (snap.revision, snap.priority, snap.minor, snap.languages) == (2, Priority.URGENT, True, ["es", "en"])
    assert snap.screening.indicator_count == 4 and snap.interpreter == "not_needed"
    assert snap.stabilization.hhs_notification == "due"  # a minor revealed, before any plan says so
    assert published[-1] == snap  # the older correction republishes the same facts
    # Any order of the two corrections and the opening gives the same snapshot.
    other, _ = run([fix1, fix2, *accepted_by()])
    assert domain.snapshot(other).model_dump(exclude={"version"}) == snap.model_dump(exclude={"version"})


def test_a_withdrawal_is_a_timeline_line_and_the_closure_comes_from_the_referral_service() -> None:
    state, _ = run(accepted_by())
    out, published = run([ev.inbound(ev.withdrawn(CASE, at=at(20)), at=at(20))], state)
    assert published == [] and "withdrew" in out.timeline[-1].text
    close = ev.closed(CASE, at=at(20), by=None, reason=ClosureReason.WITHDRAWN, released="sp-1")
    _, [snap] = run([ev.inbound(close, at=at(20))], out)
    assert snap.stage == Stage.CLOSED and snap.closure.reason == ClosureReason.WITHDRAWN


def test_the_timeline_says_who_was_reached_and_what_was_refused() -> None:
    from shared.contracts.notifications import NotificationSent
    sent = NotificationSent.model_validate(dict(
        notification_id="n-1", kind="case_needs_holder", case_id=CASE, reference=CASE, recipient_id="sup-7",
        recipient_role="supervisor", channel="email", attempts=1, sent_at=at(5)), strict=False)
    refused = ev.action_rejected(CASE, at=at(6), actor=ev.specialist("sp-9"))
    lines = [timeline.moment(ev.inbound(p), T0).text for p in (sent, refused)]
    assert lines == ["Notification case_needs_holder sent to supervisor sup-7 by email",
                     "A close request by victim_specialist sp-9 was not applied: not_entitled"]


def life_story() -> dict[str, list]:
    """A handover, a correction, a closure and a reopening, with the deliveries, per topic."""
    from shared.contracts.notifications import NotificationSent
    sent = NotificationSent.model_validate(dict(
        notification_id="n-2", kind="case_closed", case_id=CASE, reference=CASE, recipient_id="sp-2",
        recipient_role="victim_specialist", channel="email", attempts=1, sent_at=at(61)), strict=False)
    offer = ev.assigned(CASE, "r2", "sp-2", at=at(30), attempt=2, reassigned_by=ev.supervisor(),
                        reason=ReassignmentReason.WORKLOAD, handover_from="sp-1")
    return {
        "cases.opened": [ev.inbound(ev.case_opened(CASE), at=T0), ev.inbound(ev.corrected(CASE, 1, at=at(8)), at=at(8)),
                         ev.inbound(ev.corrected(CASE, 2, at=at(9), minor=False), at=at(9))],
        "referrals.events": [*accepted_by()[1:], ev.inbound(offer, at=at(30)),
                             ev.inbound(ev.accepted(CASE, "r2", "sp-2", assigned_at=at(30), at=at(31)), at=at(31)),
                             ev.inbound(ev.released(CASE, "r1", "sp-1", at=at(31), reason=ReleaseReason.HANDED_OVER),
                                        at=at(31)),
                             ev.inbound(ev.closed(CASE, at=at(60), by=ev.supervisor(), released="sp-2"), at=at(60)),
                             ev.inbound(ev.reopened(CASE, at=at(90), by=ev.supervisor(), previous="sp-2"), at=at(90))],
        "notifications.events": [ev.inbound(sent, at=at(61))],
    }


@st.composite
def life_interleavings(draw):
    queues = {topic: list(evs) for topic, evs in life_story().items()}
    order = []
    while any(queues.values()):
        topic = draw(st.sampled_from(sorted(t for t, q in queues.items() if q)))
        order.append(queues[topic].pop(0))
    return order


LIFE = run([e for evs in life_story().values() for e in evs])[0]


@hypothesis_settings(max_examples=40, deadline=None)
@given(life_interleavings())
def test_a_cases_life_gives_the_same_snapshot_in_any_cross_topic_order(order) -> None:
    state, published = run(order)
    assert domain.snapshot(state) == domain.snapshot(LIFE) and published[-1] == domain.snapshot(LIFE)
    assert state.timeline == LIFE.timeline
    snap = domain.snapshot(LIFE)
    assert (snap.stage, snap.revision, snap.minor, snap.reopen_count, snap.referral.specialist_id) == (
        Stage.ENGAGED, 2, False, 1, "sp-2")
