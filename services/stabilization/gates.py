"""The interview gates as named rules (rule 4; D5, D6, I1, I3): this service's rules module.

Each rule is a pure function of the plan, the interview request, the time and the
policy; it returns ``None`` when its gate passes, or the reason it does not, named after
the rule. An interview is cleared exactly when :func:`interview_gates` returns nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.contracts.inbound import LocationType
from shared.contracts.stabilization import DeferralReason, GateRule

from .state import InterviewRequest, Plan, Policy

# I1: avoid police stations and immigration offices.
NOT_NEUTRAL = frozenset({LocationType.POLICE_STATION, LocationType.IMMIGRATION_OFFICE})


Gate = Callable[[Plan, InterviewRequest, datetime, Policy], DeferralReason | None]


def needs_not_assessed(plan: Plan, interview: InterviewRequest, now: datetime,
        policy: Policy) -> DeferralReason | None:
    if plan.needs_assessed:
        return None
    return DeferralReason(rule=GateRule.NEEDS_NOT_ASSESSED,
                          detail="the person's needs have not been assessed yet (D5)")


def urgent_needs_open(plan: Plan, interview: InterviewRequest, now: datetime,
        policy: Policy) -> DeferralReason | None:
    if plan.case is None:  # the encounter's urgent needs are not known yet
        return DeferralReason(rule=GateRule.URGENT_NEEDS_OPEN, urgent_needs=plan.urgent_needs_open,
                              detail="the case has not opened here yet: its urgent needs are unknown")
    if not plan.urgent_needs_open:
        return None
    return DeferralReason(rule=GateRule.URGENT_NEEDS_OPEN, urgent_needs=plan.urgent_needs_open,
                          detail="urgent needs are not met yet: " + ", ".join(plan.urgent_needs_open))


def interpreter_not_arranged(plan: Plan, interview: InterviewRequest, now: datetime,
        policy: Policy) -> DeferralReason | None:
    if plan.interpreter is not None:
        return None
    if plan.case is None:
        return DeferralReason(rule=GateRule.INTERPRETER_NOT_ARRANGED,
                              detail="the case has not opened here yet: the interpreter need is unknown")
    if not plan.interpreter_needed:
        return None
    return DeferralReason(rule=GateRule.INTERPRETER_NOT_ARRANGED,
                          detail="an interpreter is needed and none is arranged (D4, I3)")


def location_not_neutral(plan: Plan, interview: InterviewRequest, now: datetime,
        policy: Policy) -> DeferralReason | None:
    if interview.location_type not in NOT_NEUTRAL:
        return None
    return DeferralReason(rule=GateRule.LOCATION_NOT_NEUTRAL, location_type=interview.location_type,
                          detail=f"{interview.location_type.replace('_', ' ')} is not a neutral location (I1)")


def specialist_not_engaged(plan: Plan, interview: InterviewRequest, now: datetime,
        policy: Policy) -> DeferralReason | None:
    if plan.engaged:
        return None
    return DeferralReason(rule=GateRule.SPECIALIST_NOT_ENGAGED,
                          detail="the victim specialist has not accepted the referral yet")


def stabilization_period(plan: Plan, interview: InterviewRequest, now: datetime,
        policy: Policy) -> DeferralReason | None:
    ends = policy.stabilization_ends(plan)
    if ends is None:
        return DeferralReason(rule=GateRule.STABILIZATION_PERIOD,
                              detail="the case has not opened here yet: the stabilization period has not begun")
    if now >= ends:
        return None
    remaining = round((ends - now).total_seconds() / 3600, 2)
    return DeferralReason(rule=GateRule.STABILIZATION_PERIOD, remaining_hours=remaining, ends_at=ends,
                          detail=f"the person has {remaining:g} more hour(s) to stabilize (D6)")


GATES: tuple[Gate, ...] = (
    needs_not_assessed,
    urgent_needs_open,
    interpreter_not_arranged,
    location_not_neutral,
    specialist_not_engaged,
    stabilization_period,
)


def interview_gates(plan: Plan, interview: InterviewRequest, now: datetime, policy: Policy) -> list[DeferralReason]:
    """Every unmet gate, in a fixed order; empty means the interview is cleared."""
    return [reason for gate in GATES if (reason := gate(plan, interview, now, policy)) is not None]
