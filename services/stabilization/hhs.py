"""The HHS notice for minors (M1): due 24 h after the *encounter* (its ``occurred_at``, never
the time the report was processed), reminder at 12 h, escalation once overdue. Both are
durable timers (docs/design.md, Durable timers) and fire once each; a deadline already past
when the case (or the correction that reveals the minor) arrives is overdue at once, and a
reminder time already past is said at once.

A minor once shown stays one for this notice: a later correction to an adult does not
silence it (notifying HHS needlessly costs little, missing it is a breach); the specialist
ends it by recording ``hhs_notified``. A closure leaves it armed unless the case was
withdrawn or closed as a duplicate (:attr:`Plan.hhs_owed`).
"""

from __future__ import annotations

from datetime import datetime

from shared.contracts.stabilization import HhsNotificationDue, HhsNotificationOverdue
from shared.kit import TimerFired

from .reaction import Note, Reaction
from .state import Plan

REMINDER = "hhs_reminder"
DUE = "hhs_due"
TIMERS = (REMINDER, DUE)


def arm(plan: Plan, now: datetime) -> tuple[Plan, list[Note]]:
    """Keep the reminder and the deadline in step with the case: set while the notice is owed
    (and not overdue already), moved when the deadline moved; said at once what is past."""
    case = plan.case
    if case is None or not plan.hhs_owed or plan.hhs_overdue:
        return plan, []
    due_at = case.hhs_due_at
    if plan.timers.get(DUE) == due_at:  # armed for this deadline already
        return plan, []
    timers = {k: v for k, v in plan.timers.items() if k not in TIMERS}
    if due_at <= now:
        plan = plan.model_copy(update={"timers": timers, "hhs_overdue": True})
        return plan, [(HhsNotificationOverdue, {"due_at": due_at})]
    timers[DUE] = due_at
    notes: list[Note] = []
    if case.hhs_reminder_at > now:
        timers[REMINDER] = case.hhs_reminder_at
    else:
        notes.append((HhsNotificationDue, {"due_at": due_at}))
    return plan.model_copy(update={"timers": timers}), notes


def disarm(plan: Plan) -> Plan:
    """HHS was notified."""
    return _without_timers(plan).model_copy(update={"hhs_notified": True})


def on_closure(plan: Plan) -> Plan:
    """A closed case keeps its HHS notice unless the closure ended it (withdrawn, duplicate)."""
    return plan if plan.hhs_owed else _without_timers(plan)


def when_hhs_timer(plan: Plan, fired: TimerFired, now: datetime) -> Reaction:
    if plan.case is None or not plan.hhs_owed:
        return Reaction(plan)
    due_at = plan.case.hhs_due_at
    if fired.name == REMINDER and now < due_at:  # a reminder that is late is superseded
        return Reaction(plan, [(HhsNotificationDue, {"due_at": due_at})])
    if fired.name == DUE:
        plan = plan.model_copy(update={"hhs_overdue": True})
        return Reaction(plan, [(HhsNotificationOverdue, {"due_at": due_at})])
    return Reaction(plan)


def _without_timers(plan: Plan) -> Plan:
    return plan.model_copy(update={"timers": {k: v for k, v in plan.timers.items() if k not in TIMERS}})
