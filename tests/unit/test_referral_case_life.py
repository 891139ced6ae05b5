"""A case's life, pure: who may close, reopen and move a case; handovers; departures; an
unassigned case that never goes quiet (docs/design.md, Case life)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.referral import domain
from services.referral.matching import Roster, Specialist, Supervisor
from services.referral.state import ACK, OFFER, REALERT, CaseReferral, Policy, SpecialistDeparted
from shared.contracts.common import AgencyLevel, Priority
from shared.contracts.inbound import (
    Actor,
    ActorRole,
    CaseClosed,
    CaseReopened,
    ClosureReason,
    ReassignmentReason,
    ReferralReassigned,
    ReferralResponded,
    ReferralResponseKind,
    ReopenReason,
    WithdrawalReason,
)
from shared.contracts.intake import CaseOpened, CaseWithdrawn, Screening
from shared.contracts.referrals import (
    CaseActionKind,
    CaseActionRejected,
    CaseActionRejection,
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    NotificationScope,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralReleased,
    ReferralResponseRejected,
    RejectionReason,
    ReleaseReason,
)
from shared.kit import Inbound

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = Policy(dict.fromkeys(Priority, timedelta(minutes=30)), max_escalations=2,
                retry_every=timedelta(minutes=1), realert_every=timedelta(minutes=15))
SUPERVISORS = [Supervisor("sup-tx", "TX-DPS", ("US-TX",)), Supervisor("sup-ca", "TX-DPS", ("US-CA",)),
               Supervisor("sup-other", "CA-DOJ", ("*",))]


def sp(specialist_id: str, *, on_duty: bool = True, max_cases: int = 5, load: int = 0) -> Specialist:
    return Specialist(specialist_id, frozenset({"es"}), ("US-TX",), on_duty, max_cases, load=load)


def roster(*specialists: Specialist) -> Roster:
    return Roster.of(specialists or (sp("a"), sp("b"), sp("c")), supervisors=SUPERVISORS)


def supervisor(sid: str = "sup-tx") -> Actor:
    return Actor(id=sid, role=ActorRole.SUPERVISOR)


def specialist(sid: str) -> Actor:
    return Actor(id=sid, role=ActorRole.VICTIM_SPECIALIST)


def event(data, event_id: str) -> Inbound:
    return Inbound(id=event_id, type=getattr(data, "TYPE", "internal"), data=data, source="test")


def opened(case_id: str = "case-1") -> Inbound:
    return event(CaseOpened(case_id=case_id, encounter_id="E", agency_id="TX-DPS", agency_level=AgencyLevel.STATE,
                            officer_id="o", region="US-TX", occurred_at=T0, opened_at=T0, languages=["es"],
                            interpreter_needed=False, urgent_needs=[], priority=Priority.NORMAL, minor=False,
                            screening=Screening(categories={}, indicator_count=0)), f"open-{case_id}")


def answer(state: CaseReferral, kind: str = "accepted", *, offer: bool = False) -> Inbound:
    target = state.offer if offer else state.current
    assert target is not None
    return event(ReferralResponded(case_id=state.case_id, referral_id=target.referral_id,
                                   specialist_id=target.specialist_id, response=ReferralResponseKind(kind)),
                 f"resp-{kind}-{target.referral_id}")


def close(actor: Actor, reason: ClosureReason = ClosureReason.SERVICES_COMPLETED) -> Inbound:
    return event(CaseClosed(case_id="case-1", closed_by=actor, reason=reason), f"close-{actor.id}")


def reopen(actor: Actor) -> Inbound:
    return event(CaseReopened(case_id="case-1", reopened_by=actor, reason=ReopenReason.RE_ENGAGED),
                 f"reopen-{actor.id}")


def reassign(actor: Actor, to: str | None = None, reason: ReassignmentReason = ReassignmentReason.WORKLOAD) -> Inbound:
    return event(ReferralReassigned(case_id="case-1", requested_by=actor, to_specialist_id=to, reason=reason),
                 f"move-{actor.id}-{to}")


def run(state, inbound, now=T0, on=None):
    return domain.decide(state, inbound, now, roster=on or roster(), policy=POLICY)


def accepted_case(on: Roster | None = None) -> CaseReferral:
    state, _ = run(None, opened(), on=on)
    state, _ = run(state, answer(state), on=on)
    assert state.status == "accepted" and state.current.specialist_id == "a"
    return state


def test_the_accepted_holder_or_a_supervisor_in_scope_may_close_no_one_else() -> None:
    state, _ = run(None, opened())
    held = accepted_case()
    table = [
        (held, specialist("b"), CaseActionRejection.NOT_ENTITLED),  # not the holder
        (state, specialist("a"), CaseActionRejection.NOT_ENTITLED),  # assigned, not yet accepted
        (held, Actor(id="a", role=ActorRole.SUPERVISOR), CaseActionRejection.NOT_ENTITLED),  # not a supervisor
        (held, supervisor("sup-ca"), CaseActionRejection.NOT_ENTITLED),  # another region
        (held, supervisor("sup-other"), CaseActionRejection.NOT_ENTITLED),  # another agency
        (held, supervisor("sup-gone"), CaseActionRejection.NOT_ENTITLED),  # not on the roster
        (None, supervisor(), CaseActionRejection.UNKNOWN_CASE),
    ]
    for before, actor, rejection in table:
        after, [refused] = run(before, close(actor))
        assert isinstance(refused, CaseActionRejected) and after == before
        assert (refused.action, refused.rejection, refused.actor) == (CaseActionKind.CLOSE, rejection, actor)
    for actor in (specialist("a"), supervisor()):
        closed, [applied] = run(held, close(actor))
        assert isinstance(applied, CaseClosureApplied) and applied.closed_by == actor
        assert closed.status == "closed"
        _, [again] = run(closed, close(actor))
        assert again.rejection == CaseActionRejection.ALREADY_CLOSED


def test_closing_frees_the_slot_and_disarms_every_timer() -> None:
    state, _ = run(None, opened())
    assert state.timers == {ACK: state.current.ack_due_at}
    closed, [applied] = run(state, close(supervisor()))
    assert closed.holds == frozenset() and closed.timers == {} and closed.current is None
    assert (applied.referral_id, applied.released_specialist_id) == (state.current.referral_id, "a")
    # the released referral's answer comes too late: superseded, never applied
    _, [refused] = run(closed, answer(state))
    assert isinstance(refused, ReferralResponseRejected) and refused.rejection == RejectionReason.SUPERSEDED
    # nothing armed fires on a closed case
    for name in (ACK, "retry", OFFER, REALERT):
        assert run(closed, Inbound.timer("case-1", name, T0))[1] == []


def test_a_withdrawal_closes_without_an_actor_once() -> None:
    held = accepted_case()
    withdrawn = event(CaseWithdrawn(case_id="case-1", encounter_id="E", agency_id="TX-DPS",
                                    reason=WithdrawalReason.ENTERED_IN_ERROR, withdrawn_at=T0), "withdrawn")
    closed, [applied] = run(held, withdrawn)
    assert applied.reason == ClosureReason.WITHDRAWN and applied.closed_by is None
    assert applied.released_specialist_id == "a" and closed.holds == frozenset()
    assert run(closed, withdrawn) == (closed, [])  # already closed: nothing to say
    assert run(None, withdrawn) == (None, [])


def test_reopen_goes_back_to_the_previous_holder_if_they_can_take_it() -> None:
    closed, _ = run(accepted_case(), close(specialist("a")))
    refused, [no] = run(closed, reopen(specialist("b")))
    assert no.rejection == CaseActionRejection.NOT_ENTITLED and refused == closed
    assert run(accepted_case(), reopen(supervisor()))[1][0].rejection == CaseActionRejection.NOT_CLOSED
    back, [applied, assigned] = run(closed, reopen(specialist("a")))
    assert isinstance(applied, CaseReopeningApplied) and applied.reopen_count == 1
    assert applied.previous_specialist_id == "a"
    assert isinstance(assigned, ReferralAssigned) and assigned.specialist_id == "a" and assigned.attempt == 2
    assert back.status == "assigned" and back.timers == {ACK: assigned.ack_due_at}
    # the previous holder is full now: matched anew; the count goes on
    closed2, _ = run(back, close(supervisor()))
    full = roster(sp("a", load=5), sp("b"), sp("c"))
    again, [applied2, other] = run(closed2, reopen(supervisor()), on=full)
    assert applied2.reopen_count == 2 and other.specialist_id != "a"
    # nobody at all: unassigned, announced, with a re-alert pending
    closed3, _ = run(again, close(supervisor()), on=full)
    nobody = roster(sp("a", on_duty=False))
    alone, [_, unassigned] = run(closed3, reopen(supervisor()), on=nobody)
    assert isinstance(unassigned, CaseUnassigned) and alone.status == "unassigned" and REALERT in alone.timers


def test_a_supervisor_names_a_specialist_overriding_a_decline_never_capacity_or_duty() -> None:
    state, _ = run(None, opened())
    declined, [_, to_b] = run(state, answer(state, "declined"))  # a declined; b assigned
    assert to_b.specialist_id == "b"
    on = roster(sp("a"), sp("b"), sp("c", max_cases=1, load=1), sp("d", on_duty=False))
    for actor, to, rejection in [(supervisor(), "c", CaseActionRejection.NOT_AVAILABLE),
                                 (supervisor(), "d", CaseActionRejection.NOT_AVAILABLE),
                                 (supervisor(), "zed", CaseActionRejection.UNKNOWN_SPECIALIST),
                                 (supervisor(), "b", CaseActionRejection.ALREADY_HOLDER),
                                 (supervisor("sup-ca"), "a", CaseActionRejection.NOT_ENTITLED),
                                 (specialist("b"), "a", CaseActionRejection.NO_HOLDER),
                                 (specialist("c"), "a", CaseActionRejection.NOT_ENTITLED)]:
        after, [refused] = run(declined, reassign(actor, to), on=on)
        assert refused.rejection == rejection and after == declined, (actor, to)
    moved, [released, assigned] = run(declined, reassign(supervisor(), "a"), on=on)
    assert isinstance(released, ReferralReleased) and released.reason == ReleaseReason.REASSIGNED
    assert released.specialist_id == "b" and moved.holds == {("a", "case-1#3")}
    assert (assigned.specialist_id, assigned.reassigned_by, assigned.handover_from) == ("a", supervisor(), None)
    assert assigned.reassignment_reason == ReassignmentReason.WORKLOAD and assigned.escalations == 0
    # unnamed: matched anew, never the current holder (nor who declined)
    anew, [_, next_one] = run(declined, reassign(supervisor()), on=roster(sp("a"), sp("b"), sp("c")))
    assert next_one.specialist_id == "c" and anew.status == "assigned"
    # nobody else: refused, the case stays where it is
    assert run(declined, reassign(supervisor()), on=on)[1][0].rejection == CaseActionRejection.NOT_AVAILABLE


def test_a_handover_keeps_the_holder_until_the_new_specialist_accepts() -> None:
    held = accepted_case()
    offered, [assigned] = run(held, reassign(specialist("a"), "b", ReassignmentReason.HANDOVER))
    assert assigned.handover_from == "a" and assigned.specialist_id == "b"
    assert offered.status == "accepted" and offered.current.specialist_id == "a"
    assert offered.holds == {("a", "case-1#1"), ("b", "case-1#2")} and offered.timers == {OFFER: assigned.ack_due_at}
    # declined: the holder keeps the case, no escalation
    kept, [declined, holder_kept] = run(offered, answer(offered, "declined", offer=True))
    assert isinstance(declined, ReferralDeclined) and isinstance(holder_kept, HolderKept)
    assert (holder_kept.specialist_id, holder_kept.declined_referral_id) == ("a", assigned.referral_id)
    assert kept.holds == {("a", "case-1#1")} and kept.escalations == 0 and kept.status == "accepted"
    # the deadline of the offer passes: the holder keeps it too
    due = assigned.ack_due_at
    lapsed, [kept2] = run(offered, Inbound.timer("case-1", OFFER, due), now=due)
    assert isinstance(kept2, HolderKept) and lapsed.holds == {("a", "case-1#1")} and lapsed.escalations == 0
    # accepted: the old slot is released (handed over), the new specialist holds it
    taken, [released, accepted] = run(offered, answer(offered, offer=True))
    assert isinstance(released, ReferralReleased) and released.reason == ReleaseReason.HANDED_OVER
    assert isinstance(accepted, ReferralAccepted) and accepted.specialist_id == "b"
    assert taken.holds == {("b", "case-1#2")} and taken.offer is None
    # a supervisor's move of an accepted case is an offer as well, released as ``reassigned``
    by_supervisor, _ = run(held, reassign(supervisor(), "c"))
    _, [released2, _] = run(by_supervisor, answer(by_supervisor, offer=True))
    assert released2.reason == ReleaseReason.REASSIGNED
    # the holder's own referral answered again: already answered
    assert run(offered, answer(held))[1][0].rejection == RejectionReason.ALREADY_ANSWERED


def test_a_departure_moves_unaccepted_referrals_and_flags_accepted_ones() -> None:
    pending, _ = run(None, opened())
    held = accepted_case()
    gone = roster(sp("b"), sp("c"))  # a was removed
    moved, [released, assigned] = run(pending, event(SpecialistDeparted("case-1", "a"), "d1"), on=gone)
    assert released.reason == ReleaseReason.SPECIALIST_DEPARTED and assigned.specialist_id != "a"
    assert moved.escalations == 0 and assigned.escalations == 0
    flagged, [needs] = run(held, event(SpecialistDeparted("case-1", "a"), "d2"), on=gone)
    assert isinstance(needs, CaseNeedsHolder) and needs.scope == NotificationScope.REGION
    assert flagged.needs_holder and flagged.holds == held.holds  # still theirs until a supervisor moves it
    assert run(flagged, event(SpecialistDeparted("case-1", "a"), "d3"), on=gone)[1] == []  # flagged once
    # back on duty meanwhile: nothing moves
    assert run(pending, event(SpecialistDeparted("case-1", "a"), "d4"))[1] == []
    # a supervisor moves the flagged case: released at once, the new referral current
    now_b, [rel, to_b] = run(flagged, reassign(supervisor(), "b"), on=gone)
    assert rel.reason == ReleaseReason.REASSIGNED and to_b.handover_from is None and not now_b.needs_holder
    # a handover offered to someone who leaves: the holder keeps the case
    offered, _ = run(held, reassign(specialist("a"), "b", ReassignmentReason.HANDOVER))
    kept, [holder_kept] = run(offered, event(SpecialistDeparted("case-1", "b"), "d5"), on=roster(sp("a"), sp("c")))
    assert isinstance(holder_kept, HolderKept) and kept.holds == {("a", "case-1#1")}


def test_an_unassigned_case_alerts_again_and_widens() -> None:
    nobody = roster(sp("a", on_duty=False))
    state, [first] = run(None, opened(), on=nobody)
    assert first.alert == 1 and state.timers[REALERT] == T0 + POLICY.realert_every
    alerts, now = [first], T0
    for _ in range(3):
        now = state.timers[REALERT]
        state, [again] = run(state, Inbound.timer("case-1", REALERT, now), now=now, on=nobody)
        alerts.append(again)
    assert [(a.alert, a.scope) for a in alerts] == [(1, NotificationScope.REGION), (2, NotificationScope.REGION),
                                                    (3, NotificationScope.ALL), (4, NotificationScope.ALL)]
    # someone is free at the re-alert: assigned instead
    now = state.timers[REALERT]
    assigned_state, [assigned] = run(state, Inbound.timer("case-1", REALERT, now), now=now)
    assert isinstance(assigned, ReferralAssigned) and assigned_state.alert == 0


def test_moving_a_case_whose_holder_left_during_a_handover_withdraws_the_offer_too() -> None:
    offered, _ = run(accepted_case(), reassign(specialist("a"), "b", ReassignmentReason.HANDOVER))
    gone = roster(sp("b"), sp("c"))
    flagged, [needs] = run(offered, event(SpecialistDeparted("case-1", "a"), "d1"), on=gone)
    assert isinstance(needs, CaseNeedsHolder) and flagged.offer is not None  # the offer stands
    moved, events = run(flagged, reassign(supervisor(), "c"), on=gone)
    assert [(type(e), getattr(e, "specialist_id", None)) for e in events] == [
        (ReferralReleased, "b"), (ReferralReleased, "a"), (ReferralAssigned, "c")]
    assert moved.offer is None and moved.holds == {("c", "case-1#3")} and moved.status == "assigned"
    # the withdrawn offer's answer comes too late
    assert run(moved, answer(offered, offer=True), on=gone)[1][0].rejection == RejectionReason.SUPERSEDED


def test_a_supervisor_of_the_holders_organisation_may_close_one_of_another_may_not() -> None:
    """The specialist's organisation is not the reporting agency: its supervisors act on its cases."""
    team = [Supervisor("sup-team", "tx-victim-services", ("US-TX",)),
            Supervisor("sup-elsewhere", "ca-survivor-network", ("US-TX",))]
    on = Roster.of([Specialist("a", frozenset({"es"}), ("US-TX",), True, 5, agency_id="tx-victim-services")],
                   supervisors=team)
    held = accepted_case(on)
    refused, events = run(held, close(supervisor("sup-elsewhere")), on=on)
    assert refused.status == "accepted"
    assert [e.rejection for e in events if isinstance(e, CaseActionRejected)] == [CaseActionRejection.NOT_ENTITLED]
    closed, events = run(held, close(supervisor("sup-team")), on=on)
    assert closed.status == "closed"
    assert [type(e) for e in events if isinstance(e, CaseClosureApplied)] == [CaseClosureApplied]
    # ... and, the case closed, the same supervisor may reopen it (the one who had it is known)
    reopened, events = run(closed, reopen(supervisor("sup-team")), on=on)
    assert reopened.status != "closed"
    assert any(isinstance(e, CaseReopeningApplied) for e in events)
