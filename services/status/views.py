"""What each reader gets from the board: columns, lists, aggregates, live changes (no PII).

Every answer is cut to the reader's scope first (see :mod:`.access`); an analyst gets
counts and percentiles, never a case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shared.contracts.inbound import ClosureReason
from shared.contracts.status import Stage
from shared.kit import Clock

from .access import Principal
from .board import EVERYTHING, Board, Scope
from .rows import Row, iso

STAGES = [s.value for s in Stage]
PRIORITIES = ["urgent", "high", "normal"]
NEEDS = ["medical", "safety", "shelter", "food", "clothing", "legal", "childcare", "other"]
CLOSURE_REASONS = [r.value for r in ClosureReason]


def scopes(principal: Principal) -> list[Scope]:
    if principal.role == "specialist":
        return [("specialist", principal.specialist_id or "")]
    if principal.all_agencies:
        return [EVERYTHING]
    return [("agency", a) for a in sorted(set(principal.agencies))]


class Views:
    def __init__(self, board: Board, clock: Clock, cp_lead_days: int,
                 render: Callable[[dict[str, Any]], str] = lambda card: "") -> None:
        self.board = board
        self.clock = clock
        self.cp_lead = cp_lead_days * 86400.0
        self.render = render  # a card's HTML, for live updates of the board page

    def now(self) -> float:
        return self.clock.now().timestamp()

    def card(self, row: Row) -> dict[str, Any]:
        return row.card(self.now(), self.cp_lead)

    def totals(self, principal: Principal) -> dict[str, int]:
        keys = scopes(principal)
        return {stage: self.board.count(keys, f"stage:{stage}") for stage in STAGES}

    def attention(self, principal: Principal) -> dict[str, int]:
        """The numbers a supervisor watches so that nobody is left waiting."""
        keys, now, board = scopes(principal), self.now(), self.board
        return {
            "awaiting_acceptance": board.count(keys, "referral:assigned"),
            "overdue": board.due_before(keys, now),
            "escalated": board.count(keys, "referral:escalated"),
            "unassigned": board.count(keys, "referral:unassigned"),
            "unassigned_realerted": board.count(keys, "realerted"),
            "unassigned_realerts": board.count(keys, "realerts"),
            "needs_holder": board.count(keys, "needs_holder"),
            "handovers": board.count(keys, "handover"),
            "hhs_due": board.count(keys, "hhs:due"),
            "hhs_overdue": board.count(keys, "hhs:overdue"),
            "cp_expiring": board.due_before(keys, now + self.cp_lead, cp=True) - board.due_before(keys, now, cp=True),
            "cp_expired": board.count(keys, "cp:expired") + board.due_before(keys, now, cp=True),
        }

    def board_view(self, principal: Principal, per_stage: int) -> dict[str, Any]:
        keys = scopes(principal)
        return {"now": iso(self.now()), "totals": self.totals(principal), "attention": self.attention(principal),
                "columns": {stage: [self.card(r) for r in self.board.column(keys, stage, per_stage)]
                            for stage in STAGES}}

    def cases(self, principal: Principal, stage: str, limit: int, offset: int) -> dict[str, Any]:
        keys = scopes(principal)
        rows = self.board.column(keys, stage, limit, offset)
        return {"stage": stage, "total": self.board.count(keys, f"stage:{stage}"), "limit": limit,
                "offset": offset, "items": [self.card(r) for r in rows]}

    def aggregates(self, principal: Principal) -> dict[str, Any]:
        keys, board = scopes(principal), self.board
        board.evict(self.now())

        def timing(acceptance: bool = False, close: bool = False) -> dict[str, Any]:
            p50, n = board.percentile(keys, 0.5, acceptance=acceptance, close=close)
            p90, _ = board.percentile(keys, 0.9, acceptance=acceptance, close=close)
            return {"p50_seconds": p50, "p90_seconds": p90, "cases": n}

        return {
            "now": iso(self.now()), "window_days": round(board.window / 86400),
            "cases": board.count(keys, "cases"),
            "by_stage": {s: {p: board.count(keys, f"stage:{s}:{p}") for p in PRIORITIES} for s in STAGES},
            "time_to_assignment": timing(), "time_to_acceptance": timing(acceptance=True),
            "time_to_close": timing(close=True),
            "closed_by_reason": {r: board.count(keys, f"closed:{r}") for r in CLOSURE_REASONS},
            "sla": {**self.attention(principal), "cases_with_missed_acknowledgement": board.count(keys, "breached"),
                    "missed_acknowledgements": board.count(keys, "escalations")},
            "urgent_needs_open": {n: board.count(keys, f"need:{n}") for n in NEEDS},
        }

    def change_for(self, principal: Principal, row: Row, before: Row | None) -> dict[str, Any] | None:
        """The live message a reader gets for a changed case, or None if it is not theirs."""
        if not principal.sees_cases:
            return {"event": "stats", "data": "{}"} if principal.may_count(row.agency_id) else None
        if principal.may_see(row.agency_id, row.specialist_id):
            card = self.card(row)
            payload = {"case": card, "html": self.render(card), "totals": self.totals(principal),
                       "attention": self.attention(principal)}
            return {"event": "case", "data": json.dumps(payload)}
        if before is not None and principal.may_see(before.agency_id, before.specialist_id):
            return {"event": "gone", "data": json.dumps({"case_id": row.case_id, "totals": self.totals(principal)})}
        return None
