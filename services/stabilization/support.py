"""From ``services.events``: a completed support service of an urgent-need kind meets that need.

The referral service says what became of each service request; only a ``ServiceCompleted``
moves a plan here, and only when its kind is an urgent-need kind and that need is open: it
is then met exactly as by an ``urgent_need_met`` milestone (see :mod:`.milestones`), and the
interview gates are re-checked as after any change. Every other service event, a completion
of another kind (``mental_health``, ``interpretation``) and one for a need not open (never
found, or met already) change nothing.
"""

from __future__ import annotations

from shared.contracts.common import Payload, UrgentNeed
from shared.contracts.stabilization import PlanChange
from shared.contracts.support import ServiceCompleted

from .milestones import meet
from .reaction import Reaction
from .state import Plan

URGENT_NEEDS = frozenset(need.value for need in UrgentNeed)


def need_met(plan: Plan, event: Payload) -> UrgentNeed | None:
    """The open urgent need this service event meets, if it meets one."""
    if not isinstance(event, ServiceCompleted) or event.need.value not in URGENT_NEEDS:
        return None
    need = UrgentNeed(event.need.value)
    return need if need in plan.urgent_needs_open else None


def when_service_event(plan: Plan, event: Payload) -> Reaction:
    need = need_met(plan, event)
    if need is None:
        return Reaction(plan)
    return Reaction(meet(plan, need), change=PlanChange.URGENT_NEED_MET)
