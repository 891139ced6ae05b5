"""Random lives of a few cases over a small roster, through the pure ``decide`` with loads
taken from the cases' own holds (what the capacity ledger keeps): no specialist is ever over
capacity, every open case has exactly one holder or is unassigned with an alert pending, and
a closed case holds no slot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.referral import domain
from services.referral.matching import Roster, Specialist, Supervisor
from services.referral.state import REALERT, CaseReferral, Policy, SpecialistDeparted
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
)
from shared.contracts.intake import CaseOpened, Screening
from shared.kit import Inbound, TimerFired

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = Policy(dict.fromkeys(Priority, timedelta(minutes=30)), max_escalations=1,
                retry_every=timedelta(minutes=1), realert_every=timedelta(minutes=15))
SPECIALISTS = {"s1": 1, "s2": 2, "s3": 1}  # id -> max_active_cases
CASES = ("c1", "c2", "c3", "c4")
SUPERVISOR = Actor(id="sup", role=ActorRole.SUPERVISOR)

ops = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(CASES)),
    st.tuples(st.just("answer"), st.sampled_from(CASES), st.sampled_from(["accepted", "declined"]), st.booleans()),
    st.tuples(st.just("close"), st.sampled_from(CASES), st.booleans()),
    st.tuples(st.just("reopen"), st.sampled_from(CASES), st.booleans()),
    st.tuples(st.just("reassign"), st.sampled_from(CASES), st.sampled_from([None, *SPECIALISTS]), st.booleans()),
    st.tuples(st.just("depart"), st.sampled_from(list(SPECIALISTS)), st.booleans()),
    st.tuples(st.just("return"), st.sampled_from(list(SPECIALISTS))),
    st.tuples(st.just("time"), st.sampled_from([1, 20, 31])),
)


@dataclass
class World:
    cases: dict[str, CaseReferral] = field(default_factory=dict)
    on_duty: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(SPECIALISTS, True))
    removed: set[str] = field(default_factory=set)
    now: datetime = T0
    serial: int = 0

    def held(self) -> dict[str, str]:
        return {token: sid for state in self.cases.values() for sid, token in state.holds}

    def roster(self) -> Roster:
        loads = Counter(self.held().values())
        specialists = [Specialist(sid, frozenset({"es"}), ("US-TX",), self.on_duty[sid], maximum, load=loads[sid])
                       for sid, maximum in SPECIALISTS.items() if sid not in self.removed]
        return Roster.of(specialists, self.held(), [Supervisor("sup", "TX-DPS", ("US",))])

    def apply(self, case_id: str, data: Any) -> None:
        self.serial += 1
        event = Inbound(id=f"e{self.serial}", type=getattr(data, "TYPE", "internal"), data=data, source="prop")
        state, _ = domain.decide(self.cases.get(case_id), event, self.now, roster=self.roster(), policy=POLICY)
        if state is not None:
            self.cases[case_id] = state

    def fire(self, case_id: str, name: str) -> None:
        state = self.cases[case_id]
        due = state.timers.get(name)
        if due is None or due > self.now:
            return
        self.cases[case_id] = state.model_copy(update={"timers": {k: v for k, v in state.timers.items() if k != name}})
        self.apply(case_id, TimerFired(name, due))

    def wake(self) -> None:
        """What the service does when a slot frees or the roster changes: retry the unassigned."""
        for case_id, state in list(self.cases.items()):
            if state.status == "unassigned":
                self.cases[case_id] = state.model_copy(update={"timers": {**state.timers, "retry": self.now}})
                self.fire(case_id, "retry")


def step(world: World, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "open":
        world.apply(args[0], CaseOpened(
            case_id=args[0], encounter_id="E", agency_id="TX-DPS", agency_level=AgencyLevel.STATE, officer_id="o",
            region="US-TX", occurred_at=T0, opened_at=T0, languages=["es"], interpreter_needed=False,
            urgent_needs=[], priority=Priority.NORMAL, minor=False,
            screening=Screening(categories={}, indicator_count=0)))
        return
    if kind == "depart":
        specialist_id, tombstone = args
        if tombstone:
            world.removed.add(specialist_id)
        world.on_duty[specialist_id] = False
        for case_id, state in list(world.cases.items()):
            if specialist_id in state.involved():
                world.apply(case_id, SpecialistDeparted(case_id, specialist_id))
        world.wake()
        return
    if kind == "return":
        world.removed.discard(args[0])
        world.on_duty[args[0]] = True
        world.wake()
        return
    if kind == "time":
        world.now += timedelta(minutes=args[0])
        for case_id in list(world.cases):
            for name in sorted(world.cases[case_id].timers):
                world.fire(case_id, name)
        return
    case_id = args[0]
    state = world.cases.get(case_id)
    if state is None:
        return
    holder = state.current.specialist_id if state.current else "nobody"
    actor = SUPERVISOR if args[-1] else Actor(id=holder, role=ActorRole.VICTIM_SPECIALIST)
    if kind == "answer":
        target = state.offer if args[2] and state.offer else state.current
        if target is None:
            return
        world.apply(case_id, ReferralResponded(case_id=case_id, referral_id=target.referral_id,
                                               specialist_id=target.specialist_id,
                                               response=ReferralResponseKind(args[1])))
    elif kind == "close":
        world.apply(case_id, CaseClosed(case_id=case_id, closed_by=actor, reason=ClosureReason.OTHER))
    elif kind == "reopen":
        world.apply(case_id, CaseReopened(case_id=case_id, reopened_by=actor, reason=ReopenReason.OTHER))
    elif kind == "reassign":
        world.apply(case_id, ReferralReassigned(case_id=case_id, requested_by=actor, to_specialist_id=args[1],
                                                reason=ReassignmentReason.OTHER))
    if state.holds - world.cases[case_id].holds:
        world.wake()  # a slot was freed


def check(world: World) -> None:
    loads = Counter(sid for state in world.cases.values() for sid, _ in state.holds)
    for sid, load in loads.items():
        assert load <= SPECIALISTS[sid], f"{sid} holds {load} > {SPECIALISTS[sid]}"
    for case_id, state in world.cases.items():
        if state.status == "closed":
            assert state.holds == frozenset() and state.timers == {} and state.offer is None, case_id
        elif state.status == "unassigned":
            assert state.current is None and state.holds == frozenset() and state.alert >= 1, case_id
            assert REALERT in state.timers, case_id  # an alert is pending
        else:
            assert state.current is not None and state.holder in state.holds, case_id
            assert len(state.holds) == (2 if state.offer else 1), case_id
            if state.offer is not None:
                assert state.status == "accepted" and state.offer.specialist_id != state.current.specialist_id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=40))
def test_random_case_lives_keep_capacity_one_holder_and_free_closed_slots(program: list[tuple[Any, ...]]) -> None:
    world = World()
    for op in program:
        step(world, op)
        check(world)
