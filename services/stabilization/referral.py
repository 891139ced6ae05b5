"""From ``referrals.events``: engagement (the specialist accepted the referral, rule 4),
whether the assigned specialist speaks the person's language (rule 3), and the case's life
(closed, reopened: docs/design.md, Case life)."""

from __future__ import annotations

from datetime import datetime

from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseReopeningApplied,
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
)
from shared.contracts.stabilization import PlanChange

from . import hhs
from .reaction import Reaction
from .state import Plan


def when_referral_changed(plan: Plan, event: ReferralAssigned | ReferralAccepted | CaseUnassigned) -> Reaction:
    hints = {"region": plan.region or event.region, "agency_id": plan.agency_id or event.agency_id}
    if isinstance(event, ReferralAccepted):
        update = {"referral_id": event.referral_id, "specialist_id": event.specialist_id, "engaged": True}
        return Reaction(plan.model_copy(update=hints | update), change=PlanChange.SPECIALIST_ENGAGED)
    if isinstance(event, ReferralAssigned):
        # A new referral is not engaged until its specialist accepts it.
        engaged = plan.engaged and plan.referral_id == event.referral_id
        update = {"referral_id": event.referral_id, "specialist_id": event.specialist_id,
                  "engaged": engaged, "language_match": event.language_match}
    else:
        update = {"referral_id": None, "specialist_id": None, "engaged": False, "language_match": None}
    return Reaction(plan.model_copy(update=hints | update), change=PlanChange.REFERRAL_CHANGED)


def when_case_closed(plan: Plan, closed: CaseClosureApplied) -> Reaction:
    """The reminders go quiet (the stabilization period's, see ``settle``), except a minor's
    HHS notice, which a closure does not end unless the case was withdrawn or a duplicate."""
    hints = {"region": plan.region or closed.region, "agency_id": plan.agency_id or closed.agency_id}
    plan = plan.model_copy(update=hints | {"closed": True, "closure_reason": closed.reason})
    return Reaction(hhs.on_closure(plan), change=PlanChange.CASE_CLOSED)


def when_case_reopened(plan: Plan, reopened: CaseReopeningApplied, now: datetime) -> Reaction:
    """Open again: the timers are armed anew from the plan as it stands (``settle`` re-checks
    the deferrals and the stabilization period; the HHS notice if it is still owed)."""
    if not plan.closed:
        return Reaction(plan)
    plan, notices = hhs.arm(plan.model_copy(update={"closed": False, "closure_reason": None}), now)
    return Reaction(plan, notices, PlanChange.CASE_REOPENED)
