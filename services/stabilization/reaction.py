"""What one event did to a plan, before :func:`services.stabilization.domain.finish`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.contracts.inbound import RecordedBy
from shared.contracts.stabilization import PlanChange, PlanEvent

from .state import Plan

# An event to publish, as its type and its own fields; the case context is added last,
# so every event of one decision carries the same, final plan summary.
Note = tuple[type[PlanEvent], dict[str, Any]]


@dataclass(frozen=True)
class Reaction:
    plan: Plan
    notes: list[Note] = field(default_factory=list)
    change: PlanChange | None = None  # says what moved, for a StabilizationProgressed
    recorded_by: RecordedBy | None = None
