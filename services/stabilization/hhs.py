"""The HHS notice for minors (M1): due 24 h after the case opened, reminder at 12 h,
escalation once overdue. Both are durable timers (docs/design.md, Durable timers) and
fire once each."""

from __future__ import annotations

from datetime import datetime

from shared.contracts.stabilization import HhsNotificationDue, HhsNotificationOverdue
from shared.kit import TimerFired

from .reaction import Reaction
from .state import HHS_REMINDER, Plan

REMINDER = "hhs_reminder"
DUE = "hhs_due"


def arm(plan: Plan) -> Plan:
    """Set the reminder and the deadline for a minor, unless HHS was notified already."""
    if plan.case is None or not plan.case.minor or plan.hhs_notified:
        return plan
    opened = plan.case.opened_at
    timers = plan.timers | {REMINDER: opened + HHS_REMINDER, DUE: plan.case.hhs_due_at}
    return plan.model_copy(update={"timers": timers})


def disarm(plan: Plan) -> Plan:
    timers = {k: v for k, v in plan.timers.items() if k not in (REMINDER, DUE)}
    return plan.model_copy(update={"timers": timers, "hhs_notified": True})


def when_hhs_timer(plan: Plan, fired: TimerFired, now: datetime) -> Reaction:
    if plan.case is None or plan.hhs_notified:
        return Reaction(plan)
    due_at = plan.case.hhs_due_at
    if fired.name == REMINDER and now < due_at:  # a reminder that is late is superseded
        return Reaction(plan, [(HhsNotificationDue, {"due_at": due_at})])
    if fired.name == DUE:
        plan = plan.model_copy(update={"hhs_overdue": True})
        return Reaction(plan, [(HhsNotificationOverdue, {"due_at": due_at})])
    return Reaction(plan)
