"""A completed support service meets an urgent need, pure: decide() over ``services.events``.

A ``ServiceCompleted`` of an urgent-need kind, for a need that is open, does what an
``urgent_need_met`` milestone does (the same plan, the same events, but no ``recorded_by``:
no specialist recorded it); anything else the referral service says about a service request
changes nothing here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.stabilization.support import URGENT_NEEDS, need_met
from shared.contracts.common import UrgentNeed
from shared.contracts.inbound import ProviderKind
from shared.contracts.referrals import ReferralAccepted
from shared.contracts.stabilization import InterviewCleared, StabilizationProgressed
from shared.contracts.support import (
    SERVICE_EVENTS,
    ServiceAccepted,
    ServiceCompleted,
    ServiceDeclined,
    ServiceRequestRefused,
    ServiceRequestSent,
    ServiceResponseRefused,
    ServiceUnanswered,
)
from tests.unit.test_stabilization_domain import CASE, OPENED, Run, case_opened, interview, milestone, referral

AT = (OPENED + timedelta(hours=2)).isoformat()


def service(kind: type, need: str = "shelter", **overrides: Any) -> Any:
    """A ``services.events`` payload as the referral service publishes it."""
    data: dict[str, Any] = {"case_id": CASE, "agency_id": "TX-DPS", "region": "US-TX", "service_request_id": "sr-1",
                            "provider_id": "pr-shelter", "need": need, "specialist_id": "spec-1"}
    actor = {"id": "spec-1", "role": "victim_specialist"}
    data |= {
        ServiceRequestSent: {"requested_by": actor, "requested_at": AT, "respond_by": AT, "languages": ["es"],
                             "share": ["identity"]},
        ServiceAccepted: {"accepted_at": AT},
        ServiceDeclined: {"declined_at": AT, "reason": "no_capacity", "next_provider_id": "pr-other"},
        ServiceCompleted: {"completed_at": AT},
        ServiceUnanswered: {"respond_by": AT, "escalated_at": AT},
        ServiceRequestRefused: {"requested_by": actor, "refusal": "not_offered", "request_event_id": "ev-1",
                                "refused_at": AT},
        ServiceResponseRefused: {"refusal": "not_accepted", "request_event_id": "ev-1", "refused_at": AT},
    }[kind]
    if kind is ServiceResponseRefused:
        del data["agency_id"], data["region"], data["need"], data["specialist_id"]
    elif kind is ServiceRequestRefused:
        del data["agency_id"], data["region"], data["specialist_id"]
    return kind.model_validate_json(json.dumps(data | overrides))


def completed(need: str = "shelter", request_id: str = "sr-1") -> ServiceCompleted:
    return service(ServiceCompleted, need, service_request_id=request_id)


def deferred_on_shelter_only() -> Run:
    """Opened with shelter open, engaged, needs assessed (shelter), interview deferred on it alone."""
    run = Run(hours=0)
    run.feed(case_opened(urgent_needs=["shelter"]))
    run.feed(referral(ReferralAccepted))
    run.feed(milestone("needs_assessed", urgent_needs=["shelter"]))
    [deferred] = run.feed(interview())
    assert [r.rule for r in deferred.reasons] == ["urgent_needs_open"]
    assert deferred.reasons[0].urgent_needs == ["shelter"]
    return run


def test_a_completed_shelter_meets_the_open_need_and_clears_the_interview_waiting_on_it() -> None:
    run = deferred_on_shelter_only()
    [cleared] = run.feed(completed("shelter"))
    assert isinstance(cleared, InterviewCleared) and cleared.after_deferral and cleared.interview_id == "iv-1"
    assert cleared.plan.urgent_needs_open == [] and cleared.plan.interview.status == "cleared"
    assert run.plan.met == ["shelter"]


def test_it_does_exactly_what_an_urgent_need_met_milestone_does() -> None:
    by_milestone, by_service = deferred_on_shelter_only(), deferred_on_shelter_only()
    assert by_milestone.feed(milestone("urgent_need_met", need="shelter")) == by_service.feed(completed("shelter"))
    assert by_milestone.plan == by_service.plan
    # Without an interview waiting, the same StabilizationProgressed; no specialist recorded it.
    quiet_milestone, quiet_service = Run(), Run()
    for run in (quiet_milestone, quiet_service):
        run.feed(case_opened(urgent_needs=["shelter", "medical"]))
    [said] = quiet_milestone.feed(milestone("urgent_need_met", need="medical"))
    [progressed] = quiet_service.feed(completed("medical"))
    assert isinstance(progressed, StabilizationProgressed) and progressed.change == "urgent_need_met"
    assert progressed.recorded_by is None and said.recorded_by is not None
    assert progressed == said.model_copy(update={"recorded_by": None})
    assert progressed.plan.urgent_needs_open == ["shelter"] and quiet_service.plan == quiet_milestone.plan


@pytest.mark.parametrize("kind", ["mental_health", "interpretation"])
def test_a_completed_service_of_a_kind_that_is_no_urgent_need_changes_nothing(kind: str) -> None:
    run = deferred_on_shelter_only()
    before = run.plan
    assert run.feed(completed(kind)) == [] and run.plan == before
    assert run.plan.interviews[0].status == "deferred"


def test_a_completion_for_a_need_not_open_changes_nothing() -> None:
    run = deferred_on_shelter_only()
    before = run.plan
    assert run.feed(completed("medical")) == [] and run.plan == before  # never found
    assert run.plan.met == []  # nor met in advance: found later, it is open
    [assessed] = run.feed(milestone("needs_assessed", urgent_needs=["medical"]))
    assert assessed.plan.urgent_needs_open == ["medical", "shelter"]
    run.feed(completed("shelter"))
    run.feed(completed("medical", request_id="sr-2"))
    met = run.plan
    assert met.urgent_needs_open == [] and met.interviews[0].status == "cleared"
    assert run.feed(completed("shelter", request_id="sr-3")) == [] and run.plan == met  # met already


@pytest.mark.parametrize("kind", [k for k in SERVICE_EVENTS if k is not ServiceCompleted], ids=lambda k: k.__name__)
def test_every_other_service_event_changes_nothing(kind: type) -> None:
    run = deferred_on_shelter_only()
    before = run.plan
    assert run.feed(service(kind, "shelter")) == [] and run.plan == before


def test_the_urgent_need_kinds_are_the_provider_kinds_that_are_urgent_needs() -> None:
    assert URGENT_NEEDS == {k.value for k in ProviderKind} - {"mental_health", "interpretation"}
    assert URGENT_NEEDS == {n.value for n in UrgentNeed}
    plan = deferred_on_shelter_only().plan
    assert need_met(plan, completed("shelter")) == UrgentNeed.SHELTER
    assert need_met(plan, service(ServiceAccepted)) is None
