"""Loads for matching, and holds in the capacity ledger around each referral write.

``for_batch`` (the workflow's decision) reads the roster and the loads once per batch;
the batch's own decisions then count as they are made, so one batch spreads its cases
instead of sending them all to whoever was least loaded when it began. ``reserve`` and
``settle`` are the Workflow's ``before_write`` and ``after_write`` (see :mod:`.ledger`
for why in that order).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from shared import logging as caselog
from shared.contracts.common import Payload
from shared.contracts.referrals import ReferralEscalated, ReferralResponseRejected
from shared.kit import Inbound
from shared.kit.metrics import METRICS
from shared.kit.workflow import Change

from . import domain
from .ledger import CapacityLedger, LedgerView
from .matching import Roster
from .roster import RosterStore
from .state import CaseReferral, Policy

log = caselog.get_logger("casework.referral")
ReferralChange = Change[CaseReferral]


def holds(state: CaseReferral | None) -> frozenset[tuple[str, str]]:
    """The slots a case takes: ``(specialist, token)`` of its current referral and a handover offer."""
    return state.holds if state is not None else frozenset()


class BatchDecider:
    """``decide`` bound to the roster as this batch's decisions fill it."""

    def __init__(self, roster: Roster, policy: Policy) -> None:
        self.roster = roster
        self.policy = policy

    def __call__(self, state: CaseReferral | None, event: Inbound, now: datetime) -> domain.Decision:
        after, events = domain.decide(state, event, now, roster=self.roster, policy=self.policy)
        for specialist_id, token in sorted(holds(after) - holds(state)):
            if token not in self.roster.held:
                self.roster = self.roster.assigned(specialist_id, now)
        return after, events


class Capacity:
    def __init__(self, roster: RosterStore, ledger: CapacityLedger, policy: Policy,
                 on_release: Callable[[], Awaitable[Any]]) -> None:
        self.roster = roster
        self.ledger = ledger
        self.policy = policy
        self.on_release = on_release  # a freed slot may serve an unassigned case
        self.view = LedgerView()  # as read by the batch being decided (one batch at a time)

    async def for_batch(self, events: Sequence[Inbound]) -> BatchDecider:
        self.view = await self.ledger.view()
        return BatchDecider(await self.roster.snapshot(self.view.loads(), self.view.held), self.policy)

    async def reserve(self, changes: list[ReferralChange]) -> set[str]:
        """Hold a slot for every new assignment; the cases that found none are decided again."""
        wanted: dict[str, list[tuple[str, str]]] = {}
        for change in changes:
            for specialist_id, token in sorted(holds(change.after) - holds(change.before)):
                wanted.setdefault(specialist_id, []).append((change.id, token))
        if not wanted:
            return set()
        now = max(c.write.now for c in changes)
        missed = await self.ledger.reserve_all(
            [(specialist_id, [t for _, t in items], await self.roster.capacity(specialist_id),
              self.view.slots.get(specialist_id, {})) for specialist_id, items in wanted.items()], now)
        return {case_id for items in wanted.values() for case_id, token in items if token in missed}

    async def settle(self, written: list[ReferralChange]) -> None:
        """Release what the written referrals gave up; log and count what needs a person."""
        released = 0
        for change in written:
            for given_up in sorted(holds(change.before) - holds(change.after)):
                if await self.ledger.release(*given_up):
                    released += 1
            for payload in change.emitted:
                _observe(payload)
        if released:
            await self.on_release()


def _observe(payload: Payload) -> None:
    if isinstance(payload, ReferralResponseRejected):
        log.warning("referral response rejected", case_id=payload.case_id, referral_id=payload.referral_id,
                    specialist_id=payload.specialist_id, response=payload.response.value,
                    rejection=payload.rejection.value, reason=payload.detail)
    elif isinstance(payload, ReferralEscalated):
        METRICS.sla_breaches.labels("referral", "referral_ack").inc()
        log.warning("referral not acknowledged in time: escalated", case_id=payload.case_id,
                    referral_id=payload.referral_id, specialist_id=payload.specialist_id,
                    escalations=payload.escalations, scope=payload.scope.value)
