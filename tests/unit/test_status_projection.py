"""The status projection, pure: snapshots, stages, and indifference to cross-topic order."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.status import domain
from shared.contracts.certifications import CertificationStatus
from shared.contracts.common import Priority
from shared.contracts.inbound import CertificationKind
from shared.contracts.stabilization import GateRule, InterviewSummary, PlanChange
from shared.contracts.status import HhsNotification, InterpreterStatus, InterviewStatus, ReferralStatus, Stage
from tests.support import events
from tests.support import status as ev
from tests.support.status import T0

CASE = "case-1"


def run(inbounds, state=None):
    """Fold like the kit does: each event id once, in the given order; collect the snapshots."""
    seen, published = set(), []
    for event in inbounds:
        if event.id in seen:
            continue
        seen.add(event.id)
        state, out = domain.decide(state, event, T0 + timedelta(days=9))
        published += out
    return state, published


def story():
    """One case's events per topic, each list in its producer's order (the same key)."""
    t = T0
    return {
        "cases.opened": [ev.inbound(ev.case_opened(CASE), at=t)],
        "referrals.events": [
            ev.inbound(ev.assigned(CASE, "r1", "sp-1", at=t + timedelta(seconds=2)), at=t + timedelta(seconds=2)),
            ev.inbound(ev.escalated(CASE, "r1", "sp-1", assigned_at=t + timedelta(seconds=2)),
                       at=t + timedelta(minutes=16)),
            ev.inbound(ev.assigned(CASE, "r2", "sp-2", at=t + timedelta(minutes=16), attempt=2, escalations=1),
                       at=t + timedelta(minutes=16)),
            ev.inbound(ev.accepted(CASE, "r2", "sp-2", assigned_at=t + timedelta(minutes=16),
                                   at=t + timedelta(minutes=20), escalations=1), at=t + timedelta(minutes=20)),
        ],
        "stabilization.events": [
            ev.inbound(ev.progressed(CASE, ev.plan(1), PlanChange.CASE_OPENED), at=t + timedelta(seconds=1)),
            ev.inbound(ev.progressed(CASE, ev.plan(2, engaged=True), PlanChange.SPECIALIST_ENGAGED),
                       at=t + timedelta(minutes=20)),
            ev.inbound(ev.progressed(CASE, ev.plan(3, engaged=True, needs_assessed=True, urgent_needs_open=())),
                       at=t + timedelta(hours=2)),
        ],
        "certifications.events": [
            ev.inbound(ev.certification(CASE, "cp-1", CertificationKind.CONTINUED_PRESENCE, CertificationStatus.GRANTED,
                                        at=t + timedelta(days=3), valid_until=t + timedelta(days=733)),
                       at=t + timedelta(days=3)),
        ],
    }


def test_a_case_opened_publishes_its_first_snapshot() -> None:
    _, [snap] = run([ev.inbound(ev.case_opened(CASE, minor=True, priority=Priority.URGENT), at=T0)])
    assert snap.version == 1 and snap.case_id == CASE and snap.encounter_id == f"ENC-{CASE}"
    assert snap.stage == Stage.REFERRAL and snap.referral.status == ReferralStatus.UNASSIGNED
    assert snap.interpreter == InterpreterStatus.NEEDED  # the encounter said so (rule 3)
    assert snap.stabilization.hhs_notification == HhsNotification.DUE  # a minor (M1)
    assert snap.stabilization.urgent_needs_open == ["shelter"]
    assert snap.updated_at == T0 and snap.continued_presence.status == "not_requested"


def test_each_referral_step_is_one_new_version() -> None:
    s = story()
    _, published = run(s["cases.opened"] + s["referrals.events"])
    assert [p.version for p in published] == [1, 2, 3, 4, 5]
    # Escalated stays visible on the next assignment, until the next specialist accepts.
    assert [p.referral.status for p in published] == [
        ReferralStatus.UNASSIGNED, ReferralStatus.ASSIGNED, ReferralStatus.ESCALATED,
        ReferralStatus.ESCALATED, ReferralStatus.ACCEPTED]
    assert (published[3].referral.referral_id, published[3].referral.specialist_id) == ("r2", "sp-2")
    last = published[-1]
    assert (last.referral.referral_id, last.referral.specialist_id, last.referral.escalations) == ("r2", "sp-2", 1)
    assert last.stage == Stage.ENGAGED and last.updated_at == T0 + timedelta(minutes=20)


def test_nothing_is_published_before_the_case_opens_then_everything_at_once() -> None:
    s = story()
    early = s["referrals.events"][:2]
    state, published = run(early)
    assert published == [] and state.version == 2 and state.opened is None
    state, [snap] = run(s["cases.opened"], state)
    assert snap.version == 3 and snap.referral.status == ReferralStatus.ESCALATED


def test_unassigned_clears_the_referral_but_keeps_the_escalation_count() -> None:
    s = story()
    gone = ev.inbound(ev.unassigned(CASE, at=T0 + timedelta(minutes=16), escalations=1))
    _, published = run(s["cases.opened"] + s["referrals.events"][:2] + [gone])
    referral = published[-1].referral
    assert referral.status == ReferralStatus.UNASSIGNED and referral.referral_id is None
    assert referral.escalations == 1


def test_a_decline_changes_no_snapshot_and_its_reason_is_not_kept() -> None:
    s = story()
    state, before = run(s["cases.opened"] + s["referrals.events"][:1])
    no = ev.inbound(ev.declined(CASE, "r1", "sp-1", at=T0 + timedelta(minutes=3), reason=events.CANARY_NARRATIVE))
    state, published = run([no], state)
    assert published == [] and state.version == before[-1].version
    assert "declined" in state.timeline[-1].text and events.CANARY_NARRATIVE not in state.model_dump_json()


def test_the_newest_plan_wins_even_when_an_older_one_comes_later() -> None:
    s = story()
    plans = s["stabilization.events"]
    state, _ = run(s["cases.opened"] + s["referrals.events"] + [plans[2], plans[0]])
    assert state.plan.plan_version == 3
    snap = domain.snapshot(state)
    assert snap.stage == Stage.STABILIZING and snap.stabilization.needs_assessed
    assert snap.stabilization.urgent_needs_open == []


def test_interview_cleared_is_the_last_stage() -> None:
    s = story()
    summary = ev.plan(4, engaged=True, needs_assessed=True, urgent_needs_open=())
    cleared = ev.inbound(ev.interview_cleared(CASE, summary))
    _, published = run(s["cases.opened"] + s["referrals.events"] + [cleared])
    assert published[-1].stage == Stage.INTERVIEW_CLEARED
    assert published[-1].stabilization.interview.status == InterviewStatus.CLEARED


def test_continued_presence_reaches_the_snapshot() -> None:
    s = story()
    _, published = run(s["cases.opened"] + s["certifications.events"])
    assert published[-1].continued_presence.status == "granted"
    assert published[-1].continued_presence.valid_until == T0 + timedelta(days=733)


def test_a_plan_interview_summary_shows_deferral_reasons() -> None:
    deferred = InterviewSummary(interview_id="int-9", status=InterviewStatus.DEFERRED,
                                reasons=[GateRule.NEEDS_NOT_ASSESSED, GateRule.LOCATION_NOT_NEUTRAL])
    step = ev.inbound(ev.progressed(CASE, ev.plan(2, interview=deferred)))
    _, published = run(story()["cases.opened"] + [step])
    assert published[-1].stabilization.interview.reasons == ["needs_not_assessed", "location_not_neutral"]


@st.composite
def interleavings(draw):
    """Any merge of the per-topic lists that keeps each topic's own order (what Kafka keeps)."""
    queues = {topic: list(evs) for topic, evs in story().items()}
    order = []
    while any(queues.values()):
        topic = draw(st.sampled_from(sorted(t for t, q in queues.items() if q)))
        order.append(queues[topic].pop(0))
    return order


REFERENCE = run([e for evs in story().values() for e in evs])[0]


@settings(max_examples=60, deadline=None)
@given(interleavings())
def test_any_cross_topic_order_gives_the_same_view_and_snapshot(order) -> None:
    state, published = run(order)
    assert domain.snapshot(state) == domain.snapshot(REFERENCE)
    assert published[-1] == domain.snapshot(REFERENCE)
    versions = [p.version for p in published]
    assert versions == sorted(set(versions)) and versions[-1] == 9  # strictly increasing by event
    assert state.timeline == REFERENCE.timeline  # the timeline too: the same lines, in time order


def test_a_redelivered_event_id_counts_once() -> None:
    s = story()
    first = s["cases.opened"] + s["referrals.events"]
    _, published = run(first + first)
    assert [p.version for p in published] == [1, 2, 3, 4, 5]
