"""The interview gates as pure named rules (rule 4; D5, D6, I1), and a property over
every combination: cleared exactly when every gate passes, reasons name exactly the
failing gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.stabilization.gates import GATES, interview_gates
from services.stabilization.state import Arrangement, CaseFacts, InterviewRequest, Plan, Policy
from shared.contracts.common import UrgentNeed
from shared.contracts.inbound import LocationType
from shared.contracts.stabilization import GateRule

OPENED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = Policy(min_stabilization_hours=24)


def facts(**overrides) -> CaseFacts:
    values = {"opened_at": OPENED, "region": "US-TX", "agency_id": "TX-DPS", "languages": ["es"],
              "interpreter_needed": False, "minor": False}
    return CaseFacts(**values | overrides)


def ready_plan(**overrides) -> Plan:
    """A plan where every plan-side gate passes."""
    values = {"case_id": "case-1", "case": facts(), "needs_assessed": True, "engaged": True}
    return Plan(**values | overrides)


def request(location: LocationType = LocationType.NEUTRAL) -> InterviewRequest:
    return InterviewRequest(interview_id="iv-1", requested_by={"officer_id": "o-1", "agency_id": "TX-DPS"},
                            proposed_at=OPENED + timedelta(days=3), location_type=location)


LATER = OPENED + timedelta(hours=30)


def rules(plan: Plan, interview: InterviewRequest | None = None, now: datetime = LATER,
          policy: Policy = POLICY) -> list[GateRule]:
    return [r.rule for r in interview_gates(plan, interview or request(), now, policy)]


def test_every_gate_is_named_after_its_rule() -> None:
    assert [g.__name__ for g in GATES] == [r.value for r in GateRule]


def test_a_ready_plan_at_a_neutral_place_after_the_period_is_cleared() -> None:
    assert rules(ready_plan()) == []


def test_needs_not_assessed() -> None:
    assert rules(ready_plan(needs_assessed=False)) == [GateRule.NEEDS_NOT_ASSESSED]


def test_urgent_needs_open_names_which() -> None:
    plan = ready_plan(needs=[UrgentNeed.SHELTER, UrgentNeed.MEDICAL, UrgentNeed.FOOD], met=[UrgentNeed.FOOD])
    [reason] = interview_gates(plan, request(), LATER, POLICY)
    assert reason.rule is GateRule.URGENT_NEEDS_OPEN
    assert reason.urgent_needs == [UrgentNeed.MEDICAL, UrgentNeed.SHELTER]
    assert rules(plan.model_copy(update={"met": list(UrgentNeed)})) == []


def test_interpreter_needed_by_the_person_or_by_no_language_match() -> None:
    assert rules(ready_plan(case=facts(interpreter_needed=True))) == [GateRule.INTERPRETER_NOT_ARRANGED]
    assert rules(ready_plan(language_match=False)) == [GateRule.INTERPRETER_NOT_ARRANGED]  # rule 3
    arranged = Arrangement(language="es", mode="telephonic")
    assert rules(ready_plan(case=facts(interpreter_needed=True), interpreter=arranged)) == []


def test_police_stations_and_immigration_offices_are_not_neutral() -> None:  # I1
    for location in LocationType:
        expected = [GateRule.LOCATION_NOT_NEUTRAL] if location in (
            LocationType.POLICE_STATION, LocationType.IMMIGRATION_OFFICE) else []
        assert rules(ready_plan(), request(location)) == expected, location
    [reason] = interview_gates(ready_plan(), request(LocationType.POLICE_STATION), LATER, POLICY)
    assert reason.location_type is LocationType.POLICE_STATION


def test_specialist_not_engaged() -> None:
    assert rules(ready_plan(engaged=False)) == [GateRule.SPECIALIST_NOT_ENGAGED]


def test_stabilization_period_counts_from_the_case_opening_with_the_time_left() -> None:  # D6
    now = OPENED + timedelta(hours=18)
    [reason] = interview_gates(ready_plan(), request(), now, POLICY)
    assert reason.rule is GateRule.STABILIZATION_PERIOD
    assert reason.remaining_hours == 6 and reason.ends_at == OPENED + timedelta(hours=24)
    assert rules(ready_plan(), now=OPENED + timedelta(hours=24)) == []  # passes exactly at the end
    assert rules(ready_plan(), now=now, policy=Policy(min_stabilization_hours=12)) == []


def test_before_the_case_opens_the_gates_needing_its_facts_stay_unmet() -> None:
    plan = ready_plan(case=None)
    assert rules(plan) == [GateRule.URGENT_NEEDS_OPEN, GateRule.INTERPRETER_NOT_ARRANGED,
                           GateRule.STABILIZATION_PERIOD]
    [*_, period] = interview_gates(plan, request(), LATER, POLICY)
    assert period.remaining_hours is None and period.ends_at is None


def test_every_gate_failing_lists_every_reason_in_order() -> None:
    plan = Plan(case_id="case-1", case=facts(interpreter_needed=True), needs=[UrgentNeed.SAFETY])
    assert rules(plan, request(LocationType.IMMIGRATION_OFFICE), now=OPENED) == list(GateRule)


# -- every combination ------------------------------------------------------------------

NOT_NEUTRAL = {LocationType.POLICE_STATION, LocationType.IMMIGRATION_OFFICE}


@st.composite
def situations(draw: st.DrawFn) -> tuple[Plan, InterviewRequest, datetime, Policy]:
    opened = draw(st.booleans())
    needs = draw(st.sets(st.sampled_from(list(UrgentNeed))))
    plan = Plan(
        case_id="case-p",
        case=facts(interpreter_needed=draw(st.booleans())) if opened else None,
        needs_assessed=draw(st.booleans()), needs=sorted(needs),
        met=sorted(draw(st.sets(st.sampled_from(list(UrgentNeed))))),
        language_match=draw(st.sampled_from([None, True, False])),
        interpreter=Arrangement(language="es", mode="in_person") if draw(st.booleans()) else None,
        engaged=draw(st.booleans()),
    )
    now = OPENED + timedelta(minutes=draw(st.integers(0, 72 * 60)))
    policy = Policy(min_stabilization_hours=draw(st.sampled_from([0, 0.5, 1, 12, 24, 36, 48])))
    return plan, request(draw(st.sampled_from(list(LocationType)))), now, policy


def failing_gates(plan: Plan, interview: InterviewRequest, now: datetime, policy: Policy) -> set[str]:
    """An independent statement of rule 4, gate by gate."""
    opened = plan.case is not None
    needs_interpreter = not opened or plan.case.interpreter_needed or plan.language_match is False
    failing = {
        "needs_not_assessed": not plan.needs_assessed,
        "urgent_needs_open": not opened or bool(set(plan.needs) - set(plan.met)),
        "interpreter_not_arranged": plan.interpreter is None and needs_interpreter,
        "location_not_neutral": interview.location_type in NOT_NEUTRAL,
        "specialist_not_engaged": not plan.engaged,
        "stabilization_period": not opened or now < OPENED + timedelta(hours=policy.min_stabilization_hours),
    }
    return {name for name, fails in failing.items() if fails}


@settings(max_examples=400, deadline=None)
@given(situations())
def test_cleared_exactly_when_every_gate_passes_and_reasons_name_the_failing_gates(situation) -> None:
    plan, interview, now, policy = situation
    reasons = interview_gates(plan, interview, now, policy)
    expected = failing_gates(plan, interview, now, policy)
    names = [r.rule.value for r in reasons]
    assert len(names) == len(set(names))
    assert set(names) == expected
    assert (reasons == []) == (expected == set())
    for reason in reasons:
        assert reason.detail
        if reason.rule is GateRule.URGENT_NEEDS_OPEN:
            assert set(reason.urgent_needs) == set(plan.needs) - set(plan.met)
        if reason.rule is GateRule.STABILIZATION_PERIOD and plan.case is not None:
            assert reason.remaining_hours is not None and reason.remaining_hours > 0

