"""Stabilization rules, pure: ``decide(plan, event, now)`` for every event a plan hears.

Every reaction returns the new plan, the specific events it calls for and what changed.
:func:`finish` then re-checks deferred interviews (a deferral clears itself as soon as
its last gate passes, rule 4), keeps the stabilization timer in step, and stamps every
event with the plan summary and a new ``plan_version``. When the summary moved and no
more specific event says so, a ``StabilizationProgressed`` does.

The plan (the aggregate) and its ``Policy`` are in :mod:`.state`; the interview gates, this
service's named rules, in :mod:`.gates`; the reactions to each kind of event in :mod:`.hhs`,
:mod:`.milestones`, :mod:`.referral` and :mod:`.support`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts.inbound import InterviewRequested, InterviewRequester, StabilizationRecorded
from shared.contracts.intake import CaseCorrected, CaseOpened
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseReopeningApplied,
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
)
from shared.contracts.stabilization import (
    GateRule,
    InterviewCleared,
    InterviewDeferred,
    PlanChange,
    PlanEvent,
    StabilizationProgressed,
)
from shared.contracts.status import InterviewStatus
from shared.contracts.support import ServiceEvent, ServiceRequestRefused, ServiceResponseRefused
from shared.kit import Inbound, TimerFired

from . import hhs, milestones, referral, support
from .gates import interview_gates
from .interpreters import language_failures
from .reaction import Note, Reaction
from .state import CaseFacts, InterviewRequest, Plan, Policy, summarize

STABILIZATION_TIMER = "stabilization_period_ends"


def decide(state: Plan | None, event: Inbound, now: datetime, *, policy: Policy) -> tuple[Plan, list[PlanEvent]]:
    before = state or Plan.model_validate({"case_id": getattr(event.data, "case_id", None) or event.subject})
    return finish(before, react(before, event.data, now, policy), now, policy)


def react(plan: Plan, data: Any, now: datetime, policy: Policy) -> Reaction:
    match data:
        case CaseOpened():
            return when_case_opened(plan, data, now)
        case CaseCorrected():
            return when_case_corrected(plan, data, now)
        case ReferralAssigned() | ReferralAccepted() | CaseUnassigned():
            return referral.when_referral_changed(plan, data)
        case CaseClosureApplied():
            return referral.when_case_closed(plan, data)
        case CaseReopeningApplied():
            return referral.when_case_reopened(plan, data, now)
        case StabilizationRecorded():
            return milestones.when_milestone_recorded(plan, data)
        case InterviewRequested():
            return when_interview_requested(plan, data, now, policy)
        case ServiceEvent() | ServiceRequestRefused() | ServiceResponseRefused():
            return support.when_service_event(plan, data)
        case TimerFired():
            return when_timer(plan, data, now)
    raise TypeError(f"no stabilization rule for {type(data).__name__}")


def when_timer(plan: Plan, fired: TimerFired, now: datetime) -> Reaction:
    if fired.name == STABILIZATION_TIMER:  # finish() re-checks the deferrals waiting for it
        return Reaction(plan, change=PlanChange.STABILIZATION_PERIOD_ENDED)
    return hhs.when_hhs_timer(plan, fired, now)


def when_case_opened(plan: Plan, opened: CaseOpened, now: datetime) -> Reaction:
    if plan.case is not None:  # the case is opened once; a repeat changes nothing
        return Reaction(plan)
    facts = CaseFacts(opened_at=opened.opened_at, occurred_at=opened.occurred_at, region=opened.region,
                      agency_id=opened.agency_id, languages=opened.languages,
                      interpreter_needed=opened.interpreter_needed, minor=opened.minor)
    plan = plan.model_copy(update={
        "case": facts, "region": opened.region, "agency_id": opened.agency_id, "revision": opened.revision,
        "needs": sorted(set(plan.needs) | set(opened.urgent_needs)),
    })
    plan, rejected = milestones.vet_unvetted(plan)
    plan, notices = hhs.arm(plan, now)
    return Reaction(plan, rejected + notices, PlanChange.CASE_OPENED)


def when_case_corrected(plan: Plan, corrected: CaseCorrected, now: datetime) -> Reaction:
    """A higher revision of the encounter: its facts replace the case's, except that a minor
    once shown stays one (the HHS notice, see :mod:`.hhs`) and an urgent need once reported
    stays open until it is met; the arranged interpreter is vetted again against the corrected
    languages. A revision not higher than the one applied changes nothing."""
    if corrected.revision <= plan.revision and plan.case is not None:
        return Reaction(plan)
    facts = CaseFacts(
        opened_at=plan.case.opened_at if plan.case else corrected.corrected_at, occurred_at=corrected.occurred_at,
        region=corrected.region, agency_id=corrected.agency_id, languages=corrected.languages,
        interpreter_needed=corrected.interpreter_needed, minor=plan.minor or corrected.minor)
    plan = plan.model_copy(update={
        "case": facts, "region": corrected.region, "agency_id": corrected.agency_id, "revision": corrected.revision,
        "needs": sorted(set(plan.needs) | set(corrected.urgent_needs)),
    })
    plan, rejected = milestones.vet_unvetted(plan)
    plan, rejected = _revet_interpreter(plan, rejected)
    plan, notices = hhs.arm(plan, now)
    return Reaction(plan, rejected + notices, PlanChange.CASE_CORRECTED)


def _revet_interpreter(plan: Plan, notes: list[Note]) -> tuple[Plan, list[Note]]:
    """An interpreter who does not speak the corrected languages no longer satisfies the gate."""
    if plan.interpreter is None or plan.case is None:
        return plan, notes
    reasons = language_failures(plan.case.languages, plan.interpreter.language)
    if not reasons:
        return plan, notes
    return plan.model_copy(update={"interpreter": None}), [*notes, milestones.rejected(plan.interpreter, reasons)]


def when_interview_requested(plan: Plan, requested: InterviewRequested, now: datetime, policy: Policy) -> Reaction:
    request = InterviewRequest(
        interview_id=requested.interview_id, proposed_at=requested.proposed_at,
        requested_by=requested.requested_by.model_dump(mode="json", exclude_none=True),
        location_type=requested.location_type)
    known = plan.interview(requested.interview_id)
    if known is not None and known.same_request(request):  # already answered
        return Reaction(plan)
    reasons = interview_gates(plan, request, now, policy)
    request = request.model_copy(update={
        "status": InterviewStatus.DEFERRED if reasons else InterviewStatus.CLEARED,
        "reasons": [r.rule for r in reasons], "deferred_once": bool(reasons)})
    others = [i for i in plan.interviews if i.interview_id != request.interview_id]
    plan = plan.model_copy(update={"interviews": [*others, request]})
    if reasons:
        return Reaction(plan, [(InterviewDeferred, {**_request_fields(request), "reasons": reasons})])
    return Reaction(plan, [(InterviewCleared, {**_request_fields(request), "after_deferral": False})])


def settle(plan: Plan, now: datetime, policy: Policy) -> tuple[Plan, list[Note]]:
    """Re-check every deferred interview; clear those whose last gate has passed. A closed
    case waits: nothing clears itself and no stabilization reminder is armed until it reopens."""
    if plan.closed:
        return _stabilization_timer(plan, policy), []
    interviews: list[InterviewRequest] = []
    notes: list[Note] = []
    for interview in plan.interviews:
        if interview.status is InterviewStatus.DEFERRED:
            reasons = [r.rule for r in interview_gates(plan, interview, now, policy)]
            status = InterviewStatus.DEFERRED if reasons else InterviewStatus.CLEARED
            interview = interview.model_copy(update={"status": status, "reasons": reasons})
            if not reasons:
                notes.append((InterviewCleared, {**_request_fields(interview), "after_deferral": True}))
        interviews.append(interview)
    plan = plan.model_copy(update={"interviews": interviews})
    return _stabilization_timer(plan, policy), notes


def _stabilization_timer(plan: Plan, policy: Policy) -> Plan:
    """Wake up when the stabilization period ends, while a deferral waits for it (D6)."""
    ends = policy.stabilization_ends(plan)
    waiting = not plan.closed and any(
        i.status is InterviewStatus.DEFERRED and GateRule.STABILIZATION_PERIOD in i.reasons for i in plan.interviews)
    timers = {k: v for k, v in plan.timers.items() if k != STABILIZATION_TIMER}
    if waiting and ends is not None:
        timers[STABILIZATION_TIMER] = ends
    return plan.model_copy(update={"timers": timers})


def finish(before: Plan, reaction: Reaction, now: datetime, policy: Policy) -> tuple[Plan, list[PlanEvent]]:
    plan, cleared = settle(reaction.plan, now, policy)
    notes = reaction.notes + cleared
    if not notes and reaction.change and summarize(plan) != summarize(before):
        notes = [(StabilizationProgressed, {"change": reaction.change, "recorded_by": reaction.recorded_by})]
    if not notes:
        return plan, []
    plan = plan.model_copy(update={"version": plan.version + 1})
    context = _context(plan)
    return plan, [kind(**context, **fields) for kind, fields in notes]


def _context(plan: Plan) -> dict[str, Any]:
    return {"case_id": plan.case_id, "region": plan.region, "agency_id": plan.agency_id,
            "specialist_id": plan.specialist_id, "plan": summarize(plan)}


def _request_fields(interview: InterviewRequest) -> dict[str, Any]:
    return {"interview_id": interview.interview_id, "proposed_at": interview.proposed_at,
            "requested_by": InterviewRequester(**interview.requested_by),
            "location_type": interview.location_type}
