"""Durable timers: a ``due_at`` field per aggregate, an index, and a sweeper (DESIGN §4).

A state keeps its timers as ``timers: {name: due_at}``; the kit stores the earliest as
the document's ``due_at``. The sweeper finds due documents through the index and feeds
a ``TimerFired`` event with a deterministic id through the same ``decide`` path, so two
sweepers, or one that crashed half-way, fire each timer once.
"""

from __future__ import annotations

from datetime import datetime

from shared.kit.inbound import Inbound
from shared.kit.metrics import METRICS
from shared.kit.workflow import Workflow, next_due

SWEEP_LIMIT = 500


async def sweep(workflow: Workflow, now: datetime, limit: int = SWEEP_LIMIT) -> int:
    """Fire every timer due at ``now`` (up to ``limit`` aggregates); return how many fired."""
    records = await workflow.store.due(now, limit)
    events: list[Inbound] = []
    for record in records:
        state = workflow._state(record)  # noqa: SLF001 - the sweeper is part of the workflow's kit
        due = sorted((at, name) for name, at in (getattr(state, "timers", None) or {}).items() if at <= now)
        if not due:
            await workflow.store.repair_due(record.id, record.version, next_due(state))
            continue
        events += [Inbound.timer(record.id, name, at) for at, name in due]
    if events:
        await workflow.handle(events)
        METRICS.timers_fired.labels(workflow.service).inc(len(events))
    return len(events)
