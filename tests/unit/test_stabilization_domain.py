"""The stabilization plan, pure: decide() over every event it hears (rules 3-5, D3-D6, I3, M1)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.stabilization.domain import decide
from services.stabilization.state import Plan, Policy
from shared.contracts.inbound import InterviewRequested, StabilizationRecorded
from shared.contracts.intake import CaseCorrected, CaseOpened
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseReopeningApplied,
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
)
from shared.contracts.stabilization import (
    HhsNotificationDue,
    HhsNotificationOverdue,
    InterpreterRejected,
    InterviewCleared,
    InterviewDeferred,
    PlanEvent,
    StabilizationProgressed,
)
from shared.kit import Inbound

OPENED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CASE = "case-1"
ATTESTED = {"no_relationship_to_person": True, "no_ties_to_trafficker": True,
            "not_victim_advocate": True, "gender_preference_respected": True}


def case_opened(**overrides: Any) -> CaseOpened:
    data = {"case_id": CASE, "encounter_id": "ENC-1", "agency_id": "TX-DPS", "agency_level": "state",
            "officer_id": "officer-17", "region": "US-TX", "occurred_at": OPENED.isoformat(),
            "opened_at": OPENED.isoformat(), "languages": ["es"], "interpreter_needed": False,
            "urgent_needs": ["shelter"], "priority": "high", "minor": False,
            "screening": {"categories": {"control": 1}, "indicator_count": 1}}
    return CaseOpened.model_validate_json(json.dumps(data | overrides))


def milestone(kind: str, **fields: Any) -> StabilizationRecorded:
    data = {"case_id": CASE, "recorded_by": {"id": "spec-1", "role": "victim_specialist"},
            "milestone": {"kind": kind, **fields}}
    return StabilizationRecorded.model_validate_json(json.dumps(data))


def interpreter(language: str = "es", **attestations: bool) -> StabilizationRecorded:
    return milestone("interpreter_arranged", language=language, mode="telephonic",
                     attestations=ATTESTED | attestations)


def interview(interview_id: str = "iv-1", location: str = "neutral") -> InterviewRequested:
    data = {"case_id": CASE, "interview_id": interview_id,
            "requested_by": {"officer_id": "officer-17", "agency_id": "TX-DPS", "email": "reyes@dps.example.gov"},
            "proposed_at": (OPENED + timedelta(days=3)).isoformat(), "location_type": location}
    return InterviewRequested.model_validate_json(json.dumps(data))


def referral(kind: type, referral_id: str = "ref-1", **overrides: Any) -> Any:
    data = {"case_id": CASE, "agency_id": "TX-DPS", "region": "US-TX", "priority": "high", "escalations": 0,
            "referral_id": referral_id, "specialist_id": "spec-1", "assigned_at": OPENED.isoformat(),
            "ack_due_at": (OPENED + timedelta(minutes=15)).isoformat()}
    if kind is ReferralAssigned:
        data |= {"attempt": 1, "language_match": True}
    elif kind is ReferralAccepted:
        data |= {"accepted_at": (OPENED + timedelta(minutes=5)).isoformat()}
    else:
        data = {k: data[k] for k in ("case_id", "agency_id", "region", "priority", "escalations")}
        data |= {"unassigned_at": OPENED.isoformat(), "reason": "no specialist on duty"}
    return kind.model_validate_json(json.dumps(data | overrides))


class Run:
    """decide() threaded like the kit does it: state stored as JSON, timers swept when due."""

    def __init__(self, hours: float = 24, now: datetime = OPENED) -> None:
        self.policy = Policy(min_stabilization_hours=hours)
        self.now = now
        self.plan: Plan | None = None
        self.events: list[PlanEvent] = []

    def feed(self, data: Any, event_id: str | None = None) -> list[PlanEvent]:
        event = Inbound(id=event_id or str(uuid.uuid4()), type=data.TYPE, data=data, subject=data.subject)
        return self._decide(event)

    def advance(self, **delta: float) -> list[PlanEvent]:
        self.now += timedelta(**delta)
        out = []
        assert self.plan is not None
        for at, name in sorted((at, n) for n, at in self.plan.timers.items() if at <= self.now):
            rest = {k: v for k, v in self.plan.timers.items() if k != name}  # the kit takes it off
            self.plan = self.plan.model_copy(update={"timers": rest})
            out += self._decide(Inbound.timer(CASE, name, at))
        return out

    def _decide(self, event: Inbound) -> list[PlanEvent]:
        plan, out = decide(self.plan, event, self.now, policy=self.policy)
        self.plan = Plan.model_validate(json.loads(json.dumps(plan.model_dump(mode="json"))))
        self.events += out
        return out

    def ready(self) -> None:
        """Everything but time: opened, engaged, needs assessed and met."""
        for data in (case_opened(), referral(ReferralAccepted), milestone("needs_assessed", urgent_needs=[]),
                     milestone("urgent_need_met", need="shelter")):
            self.feed(data)


def kinds(events: list[PlanEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_case_opened_starts_a_plan_with_the_encounters_needs() -> None:
    run = Run()
    [progressed] = run.feed(case_opened(urgent_needs=["shelter", "medical"], interpreter_needed=True))
    assert isinstance(progressed, StabilizationProgressed) and progressed.change == "case_opened"
    plan = progressed.plan
    assert plan.case_opened and plan.urgent_needs_open == ["medical", "shelter"] and not plan.needs_assessed
    assert plan.interpreter == "needed" and plan.hhs_notification == "not_required" and plan.plan_version == 1
    assert progressed.region == "US-TX" and progressed.agency_id == "TX-DPS"
    assert run.plan.timers == {}
    assert run.feed(case_opened()) == []  # a repeat changes nothing


def test_milestones_move_the_summary_and_versions_only_grow() -> None:
    run = Run()
    run.feed(case_opened(urgent_needs=["shelter"]))
    [assessed] = run.feed(milestone("needs_assessed", urgent_needs=["medical"]))  # adds a further need
    assert assessed.plan.needs_assessed and assessed.plan.urgent_needs_open == ["medical", "shelter"]
    assert assessed.recorded_by.id == "spec-1"
    [met] = run.feed(milestone("urgent_need_met", need="medical"))
    assert met.change == "urgent_need_met" and met.plan.urgent_needs_open == ["shelter"]
    [rights] = run.feed(milestone("rights_explained"))
    assert rights.plan.rights_explained
    assert run.feed(milestone("rights_explained")) == []  # nothing moved, nothing said
    versions = [e.plan.plan_version for e in run.events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_an_interpreter_failing_an_attestation_is_rejected_with_every_reason() -> None:  # I3
    run = Run()
    run.feed(case_opened(interpreter_needed=True))
    [rejected] = run.feed(interpreter(no_ties_to_trafficker=False, not_victim_advocate=False))
    assert isinstance(rejected, InterpreterRejected)
    assert rejected.reasons == ["ties_to_trafficker", "victim_advocate"]
    assert rejected.plan.interpreter == "needed" and run.plan.interpreter is None
    [wrong] = run.feed(interpreter("fr"))
    assert wrong.reasons == ["language_not_spoken"]
    [arranged] = run.feed(interpreter("es-HN"))
    assert isinstance(arranged, StabilizationProgressed) and arranged.plan.interpreter == "arranged"


def test_an_interpreter_arranged_before_the_case_opened_is_vetted_when_it_opens() -> None:
    run = Run()
    assert run.feed(interpreter("fr")) == []  # languages unknown yet: nothing to say
    out = run.feed(case_opened(interpreter_needed=True, languages=["es"]))
    assert kinds(out) == ["InterpreterRejected"] and out[0].reasons == ["language_not_spoken"]
    assert out[0].plan.case_opened and out[0].plan.interpreter == "needed"


def test_interview_deferred_with_every_unmet_gate_then_cleared_automatically_once() -> None:
    run = Run()
    run.feed(case_opened(interpreter_needed=True))
    [deferred] = run.feed(interview(location="police_station"))
    assert isinstance(deferred, InterviewDeferred)
    assert [r.rule for r in deferred.reasons] == [
        "needs_not_assessed", "urgent_needs_open", "interpreter_not_arranged", "location_not_neutral",
        "specialist_not_engaged", "stabilization_period"]
    assert deferred.requested_by.email == "reyes@dps.example.gov" and deferred.location_type == "police_station"
    assert deferred.plan.interview.status == "deferred" and len(deferred.plan.interview.reasons) == 6
    # A new proposal at a neutral place replaces the first.
    [again] = run.feed(interview(location="shelter"))
    assert "location_not_neutral" not in [r.rule for r in again.reasons]
    for data in (referral(ReferralAccepted), milestone("needs_assessed", urgent_needs=[]),
                 milestone("urgent_need_met", need="shelter"), interpreter()):
        [progress] = run.feed(data)
        assert isinstance(progress, StabilizationProgressed)
    assert progress.plan.interview.reasons == ["stabilization_period"]
    assert run.plan.timers == {"stabilization_period_ends": OPENED + timedelta(hours=24)}
    assert run.advance(hours=23, minutes=59) == []
    [cleared] = run.advance(minutes=1)
    assert isinstance(cleared, InterviewCleared) and cleared.after_deferral
    assert cleared.interview_id == "iv-1" and cleared.specialist_id == "spec-1"
    assert cleared.plan.interview.status == "cleared" and cleared.plan.interview.reasons == []
    assert run.plan.timers == {}
    assert run.feed(milestone("rights_explained"))[0].plan.interview.status == "cleared"
    assert kinds(run.events).count("InterviewCleared") == 1


def test_an_interview_requested_when_every_gate_passes_is_cleared_at_once() -> None:
    run = Run(hours=0)
    run.ready()
    [cleared] = run.feed(interview())
    assert isinstance(cleared, InterviewCleared) and not cleared.after_deferral
    assert run.feed(interview()) == []  # the same request again: already answered


def test_events_before_the_case_opened_are_kept_and_the_period_counts_from_opened_at() -> None:
    run = Run(now=OPENED + timedelta(hours=2))
    run.feed(referral(ReferralAccepted))
    run.feed(milestone("needs_assessed", urgent_needs=[]))
    [deferred] = run.feed(interview())
    assert [r.rule for r in deferred.reasons] == ["urgent_needs_open", "interpreter_not_arranged",
                                                  "stabilization_period"]
    assert deferred.reasons[2].remaining_hours is None and not deferred.plan.case_opened
    assert deferred.plan.interpreter == "needed"  # as the gate sees it, until the case says otherwise
    # The case opened two hours before this service heard of it.
    [progress] = run.feed(case_opened(urgent_needs=[]))
    assert progress.plan.interview.reasons == ["stabilization_period"]
    assert run.plan.timers["stabilization_period_ends"] == OPENED + timedelta(hours=24)
    [cleared] = run.advance(hours=22)
    assert isinstance(cleared, InterviewCleared)


def test_a_late_case_opened_clears_a_waiting_interview_at_once() -> None:
    run = Run(now=OPENED + timedelta(hours=30))
    run.feed(referral(ReferralAccepted))
    run.feed(milestone("needs_assessed", urgent_needs=[]))
    run.feed(interview())
    assert kinds(run.feed(case_opened(urgent_needs=[]))) == ["InterviewCleared"]


def test_engagement_follows_the_current_referral_and_language_match_flags_an_interpreter() -> None:  # rule 3
    run = Run()
    run.feed(case_opened())
    [assigned] = run.feed(referral(ReferralAssigned, language_match=False))
    assert assigned.change == "referral_changed" and assigned.plan.interpreter == "needed"
    [accepted] = run.feed(referral(ReferralAccepted))
    assert accepted.change == "specialist_engaged" and accepted.plan.engaged
    [unassigned] = run.feed(referral(CaseUnassigned))
    assert unassigned.specialist_id is None and not unassigned.plan.engaged
    assert unassigned.plan.interpreter == "not_needed"
    run.feed(referral(ReferralAccepted, referral_id="ref-2"))
    [reassigned] = run.feed(referral(ReferralAssigned, referral_id="ref-3", specialist_id="spec-3"))
    assert not reassigned.plan.engaged and reassigned.specialist_id == "spec-3"
    assert run.feed(referral(ReferralAssigned, referral_id="ref-3", specialist_id="spec-3")) == []


def test_minor_hhs_reminder_at_12h_and_overdue_at_24h_each_once() -> None:  # M1
    run = Run()
    [opened] = run.feed(case_opened(minor=True))
    due = OPENED + timedelta(hours=24)
    assert opened.plan.hhs_notification == "due" and opened.plan.hhs_due_at == due
    assert run.plan.timers == {"hhs_reminder": OPENED + timedelta(hours=12), "hhs_due": due}
    assert run.advance(hours=11, minutes=59) == []
    [reminder] = run.advance(minutes=1)
    assert isinstance(reminder, HhsNotificationDue) and reminder.due_at == due and reminder.region == "US-TX"
    assert run.advance(hours=11, minutes=59) == []
    [overdue] = run.advance(minutes=1)
    assert isinstance(overdue, HhsNotificationOverdue) and overdue.plan.hhs_notification == "overdue"
    assert run.advance(hours=48) == [] and run.plan.timers == {}
    [done] = run.feed(milestone("hhs_notified"))
    assert done.plan.hhs_notification == "done"


def test_hhs_notified_in_time_cancels_both_timers() -> None:
    run = Run()
    run.feed(case_opened(minor=True))
    run.advance(hours=13)
    [done] = run.feed(milestone("hhs_notified"))
    assert done.plan.hhs_notification == "done" and run.plan.timers == {}
    assert run.advance(hours=48) == []


def test_hhs_notified_before_the_case_opened_arms_no_timer() -> None:
    run = Run()
    run.feed(milestone("hhs_notified"))
    [opened] = run.feed(case_opened(minor=True))
    assert opened.plan.hhs_notification == "done" and run.plan.timers == {}


def test_a_case_opened_long_after_the_deadline_escalates_at_once_without_a_stale_reminder() -> None:
    run = Run(now=OPENED + timedelta(hours=30))
    assert kinds(run.feed(case_opened(minor=True))) == ["HhsNotificationOverdue"]
    assert run.plan.hhs_overdue and run.plan.timers == {} and run.advance(hours=1) == []


def test_an_event_no_rule_knows_is_refused() -> None:
    with pytest.raises(TypeError):
        decide(None, Inbound(id="x", type="other", data=object(), subject=CASE), OPENED, policy=Policy())


def test_no_event_carries_identifying_details() -> None:
    run = Run()
    run.feed(case_opened(minor=True, interpreter_needed=True))
    run.feed(interview())
    run.advance(hours=25)
    dumped = json.dumps([e.model_dump(mode="json") for e in run.events])
    assert run.events and "ENC-1" not in dumped and "officer-17" in dumped


@settings(max_examples=150, deadline=None)
@given(st.permutations(range(6)), st.integers(0, 48))
def test_in_any_arrival_order_the_interview_is_cleared_once_when_the_last_gate_passes(order, hours_late) -> None:
    """Across topics nothing is ordered: the plan must reach the same end whatever comes first."""
    arrivals = [case_opened(interpreter_needed=True), referral(ReferralAccepted),
                milestone("needs_assessed", urgent_needs=["medical"]), milestone("urgent_need_met", need="shelter"),
                milestone("urgent_need_met", need="medical"), interpreter()]
    run = Run(now=OPENED + timedelta(hours=hours_late))
    run.feed(interview())
    for index in order:
        run.feed(arrivals[index])
    run.advance(hours=24)
    cleared = [e for e in run.events if isinstance(e, InterviewCleared)]
    assert len(cleared) == 1 and kinds(run.events).count("InterviewDeferred") == 1
    assert run.plan.interviews[0].status == "cleared" and run.plan.timers == {}
    versions = [e.plan.plan_version for e in run.events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert run.events[-1].plan.interview.status == "cleared"


# -- the HHS clock runs from the encounter; corrections; closure and reopening (Case life) ----

def corrected(revision: int = 1, at: datetime = OPENED, **overrides: Any) -> CaseCorrected:
    data = {"case_id": CASE, "encounter_id": "ENC-1", "agency_id": "TX-DPS", "revision": revision,
            "region": "US-TX", "occurred_at": OPENED.isoformat(), "corrected_at": at.isoformat(),
            "languages": ["es"], "interpreter_needed": False, "urgent_needs": ["shelter"], "priority": "urgent",
            "minor": True, "minor_revealed": True, "screening": {"categories": {"minor": 1}, "indicator_count": 1}}
    return CaseCorrected.model_validate_json(json.dumps(data | overrides))


def closure(reason: str = "services_completed") -> CaseClosureApplied:
    data = {"case_id": CASE, "agency_id": "TX-DPS", "region": "US-TX", "priority": "high", "escalations": 0,
            "closed_at": OPENED.isoformat(), "closed_by": {"id": "spec-1", "role": "victim_specialist"},
            "reason": reason, "request_event_id": "req-1"}
    return CaseClosureApplied.model_validate_json(json.dumps(data))


def reopening() -> CaseReopeningApplied:
    data = {"case_id": CASE, "agency_id": "TX-DPS", "region": "US-TX", "priority": "high", "escalations": 0,
            "reopened_at": OPENED.isoformat(), "reopened_by": {"id": "sup-1", "role": "supervisor"},
            "reason": "closed_in_error", "reopen_count": 1, "request_event_id": "req-2"}
    return CaseReopeningApplied.model_validate_json(json.dumps(data))


def test_the_hhs_notice_of_a_first_report_counts_from_occurred_at_not_from_processing() -> None:  # M1
    occurred = OPENED - timedelta(hours=10)
    run = Run()
    [opened] = run.feed(case_opened(minor=True, occurred_at=occurred.isoformat()))
    assert opened.plan.hhs_due_at == occurred + timedelta(hours=24)
    assert run.plan.timers == {"hhs_reminder": occurred + timedelta(hours=12),
                               "hhs_due": occurred + timedelta(hours=24)}


def test_a_first_report_past_the_reminder_time_is_reminded_at_once() -> None:
    occurred = OPENED - timedelta(hours=13)
    run = Run()
    [due] = run.feed(case_opened(minor=True, occurred_at=occurred.isoformat()))
    assert isinstance(due, HhsNotificationDue) and due.due_at == occurred + timedelta(hours=24)
    assert run.plan.timers == {"hhs_due": occurred + timedelta(hours=24)}
    [overdue] = run.advance(hours=11)
    assert isinstance(overdue, HhsNotificationOverdue)


def test_a_correction_revealing_a_minor_arms_the_notice_from_occurred_at() -> None:
    run = Run()
    [opened] = run.feed(case_opened())
    assert opened.plan.hhs_notification == "not_required" and run.plan.timers == {}
    run.now = OPENED + timedelta(hours=5)
    [fixed] = run.feed(corrected(at=run.now))
    assert isinstance(fixed, StabilizationProgressed) and fixed.change == "case_corrected"
    assert fixed.plan.minor and fixed.plan.hhs_notification == "due"
    assert fixed.plan.hhs_due_at == OPENED + timedelta(hours=24)
    assert run.plan.timers == {"hhs_reminder": OPENED + timedelta(hours=12), "hhs_due": OPENED + timedelta(hours=24)}
    assert run.feed(corrected(revision=1, minor=False)) == []  # not higher: a repeat
    # A later correction to an adult does not silence the notice (the minor was shown).
    run.feed(corrected(revision=2, minor=False, minor_revealed=False))
    assert run.plan.minor and "hhs_due" in run.plan.timers
    assert kinds(run.advance(hours=7)) == ["HhsNotificationDue"]


def test_a_correction_revealing_a_minor_after_the_deadline_is_overdue_at_once() -> None:
    run = Run()
    run.feed(case_opened())
    run.now = OPENED + timedelta(hours=30)
    [overdue] = run.feed(corrected(at=run.now))
    assert isinstance(overdue, HhsNotificationOverdue) and overdue.due_at == OPENED + timedelta(hours=24)
    assert overdue.plan.hhs_notification == "overdue" and run.plan.timers == {}
    assert run.feed(corrected(revision=2)) == [] and run.advance(hours=1) == []  # said once


def test_a_correction_updates_needs_and_vets_the_interpreter_again() -> None:
    run = Run()
    run.feed(case_opened())
    run.feed(interpreter("es"))
    assert run.plan.interpreter is not None
    events = run.feed(corrected(minor=False, minor_revealed=False, languages=["ar-EG"],
                                 interpreter_needed=True, urgent_needs=["medical"]))
    assert kinds(events) == ["InterpreterRejected"]
    assert events[0].reasons == ["language_not_spoken"] and events[0].plan.interpreter == "needed"
    assert events[0].plan.urgent_needs_open == ["medical", "shelter"]  # a reported need stays until met


def test_a_closure_silences_the_reminders_but_not_a_minors_hhs_notice() -> None:
    run = Run()
    for data in (case_opened(minor=True), referral(ReferralAccepted), milestone("needs_assessed", urgent_needs=[]),
                 milestone("urgent_need_met", need="shelter")):
        run.feed(data)
    [deferred] = run.feed(interview())
    assert isinstance(deferred, InterviewDeferred)
    assert "stabilization_period_ends" in run.plan.timers
    run.feed(closure("services_completed"))
    assert "stabilization_period_ends" not in run.plan.timers and {"hhs_reminder", "hhs_due"} <= set(run.plan.timers)
    assert kinds(run.advance(hours=12) + run.advance(hours=18)) == [  # and no InterviewCleared
        "HhsNotificationDue", "HhsNotificationOverdue"]
    [reopened] = run.feed(reopening())  # the period is over by now: the deferral clears at once
    assert isinstance(reopened, InterviewCleared) and reopened.after_deferral
    assert run.plan.timers == {}


@pytest.mark.parametrize("reason", ["withdrawn", "duplicate"])
def test_a_withdrawn_or_duplicate_closure_ends_the_hhs_notice_and_a_reopening_brings_it_back(reason: str) -> None:
    run = Run()
    run.feed(case_opened(minor=True))
    [closed] = run.feed(closure(reason))
    assert closed.plan.hhs_notification == "not_required" and closed.plan.hhs_due_at is None
    assert run.plan.timers == {} and run.advance(hours=30) == []
    [back] = run.feed(reopening())  # the deadline passed while it was closed: overdue at once
    assert isinstance(back, HhsNotificationOverdue) and back.plan.hhs_notification == "overdue"
    assert run.feed(reopening()) == []  # open already: nothing


def test_a_reopening_before_the_deadline_rearms_the_stabilization_period() -> None:
    run = Run()
    run.ready()
    run.feed(interview())
    run.feed(closure("lost_contact"))
    assert run.advance(hours=2) == [] and "stabilization_period_ends" not in run.plan.timers
    run.feed(reopening())
    assert run.plan.timers == {"stabilization_period_ends": OPENED + timedelta(hours=24)}
    [cleared] = run.advance(hours=22)
    assert isinstance(cleared, InterviewCleared)
