"""``stabilization.recorded`` milestones (rules 3-5; D3-D5, I3, M1), one reaction per kind."""

from __future__ import annotations

from typing import Any

from shared.contracts.common import UrgentNeed
from shared.contracts.inbound import (
    HhsNotified,
    InterpreterArranged,
    NeedsAssessed,
    RecordedBy,
    RightsExplained,
    StabilizationRecorded,
    UrgentNeedMet,
)
from shared.contracts.stabilization import InterpreterRejected, PlanChange

from . import hhs
from .interpreters import arrangement_of, attestation_failures, language_failures
from .reaction import Note, Reaction
from .state import Arrangement, Plan

Outcome = tuple[Plan, list[Note], PlanChange]


def when_milestone_recorded(plan: Plan, recorded: StabilizationRecorded) -> Reaction:
    plan, notes, change = react(plan, recorded)
    return Reaction(plan, notes, change, recorded.recorded_by)


def react(plan: Plan, recorded: StabilizationRecorded) -> Outcome:
    milestone = recorded.milestone
    match milestone:
        case NeedsAssessed():
            return needs_assessed(plan, milestone)
        case UrgentNeedMet():
            return urgent_need_met(plan, milestone)
        case InterpreterArranged():
            return interpreter_arranged(plan, milestone, recorded.recorded_by)
        case RightsExplained():
            return rights_explained(plan)
        case HhsNotified():
            return hhs_notified(plan)
    raise TypeError(f"unknown milestone {milestone.kind!r}")


def needs_assessed(plan: Plan, milestone: NeedsAssessed) -> Outcome:
    needs = sorted(set(plan.needs) | set(milestone.urgent_needs))
    return plan.model_copy(update={"needs_assessed": True, "needs": needs}), [], PlanChange.NEEDS_ASSESSED


def urgent_need_met(plan: Plan, milestone: UrgentNeedMet) -> Outcome:
    return meet(plan, milestone.need), [], PlanChange.URGENT_NEED_MET


def meet(plan: Plan, need: UrgentNeed) -> Plan:
    """The need is met (recorded by the specialist, or a completed support service: :mod:`.support`)."""
    return plan.model_copy(update={"met": sorted(set(plan.met) | {need})})


def interpreter_arranged(plan: Plan, milestone: InterpreterArranged, recorded_by: RecordedBy) -> Outcome:
    """Independent and speaking the person's language (I3), or rejected with every reason."""
    arrangement = arrangement_of(milestone, recorded_by.model_dump())
    reasons = attestation_failures(milestone.attestations)
    if plan.case is not None:
        reasons += language_failures(plan.case.languages, milestone.language)
    if reasons:
        return plan, [rejected(arrangement, reasons)], PlanChange.INTERPRETER_ARRANGED
    if plan.case is None:  # the person's languages are not known yet: vetted on cases.opened
        return plan.model_copy(update={"unvetted": [*plan.unvetted, arrangement]}), [], PlanChange.INTERPRETER_ARRANGED
    return plan.model_copy(update={"interpreter": arrangement}), [], PlanChange.INTERPRETER_ARRANGED


def rights_explained(plan: Plan) -> Outcome:
    return plan.model_copy(update={"rights_explained": True}), [], PlanChange.RIGHTS_EXPLAINED


def hhs_notified(plan: Plan) -> Outcome:
    return hhs.disarm(plan), [], PlanChange.HHS_NOTIFIED


def vet_unvetted(plan: Plan) -> tuple[Plan, list[Note]]:
    """Arrangements recorded before the case opened, checked now that its languages are known."""
    assert plan.case is not None
    notes, interpreter = [], plan.interpreter
    for arrangement in plan.unvetted:
        reasons = language_failures(plan.case.languages, arrangement.language)
        if reasons:
            notes.append(rejected(arrangement, reasons))
        else:
            interpreter = arrangement
    return plan.model_copy(update={"unvetted": [], "interpreter": interpreter}), notes


def rejected(arrangement: Arrangement, reasons: list[Any]) -> Note:
    fields = arrangement.model_dump(include={"language", "dialect", "mode"})
    return InterpreterRejected, fields | {"reasons": reasons, "recorded_by": arrangement.recorded_by}

