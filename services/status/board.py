"""The dashboard's index of every case, kept in memory from the ``cases.status`` stream.

Why in memory: FerretDB 1.24 (SQLite) pushes only ``{_id: <string>}`` filters down to
SQLite; any other filter, sort or count decodes every document of the collection, so a
board query against 100,000 cases would be a full scan per request. Here each case sits
in sorted lists per *scope* (all cases, its agency, its specialist) and per stage, and
counters per scope: a page costs O(page + log n), a count O(scopes), whatever the total.

Aggregates: time to assignment and to acceptance are kept per scope in sorted lists of
the cases opened within the last ``window`` (30 days by default), updated incrementally
as snapshots arrive and evicted as they age; p50/p90 are a rank lookup.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice

from sortedcontainers import SortedList

from .rows import RUNNING_CP, Row

Scope = tuple[str, ...]
EVERYTHING: Scope = ("*",)
WINDOW_SECONDS = 30 * 24 * 3600


def scopes_of(row: Row) -> list[Scope]:
    keys = [EVERYTHING, ("agency", row.agency_id)]
    if row.specialist_id:
        keys.append(("specialist", row.specialist_id))
    return keys


class Board:
    def __init__(self, window_seconds: float = WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self.rows: dict[str, Row] = {}
        self.columns: dict[tuple[Scope, str], SortedList] = {}
        self.awaiting: dict[Scope, SortedList] = {}  # (ack_due_at, case_id) of unaccepted referrals
        self.cp_running: dict[Scope, SortedList] = {}  # (valid_until, case_id)
        self.counts: dict[Scope, Counter[str]] = {}
        self.to_assignment: dict[Scope, SortedList] = {}  # (seconds, case_id), within the window
        self.to_acceptance: dict[Scope, SortedList] = {}
        self.to_close: dict[Scope, SortedList] = {}  # closed cases: opened to closed
        self.recent = SortedList()  # (opened_at, case_id) of the cases in the window
        self.windowed: set[str] = set()
        self.horizon = 0.0  # cases opened before this are out of the window

    # -- writing ------------------------------------------------------------------------

    def put(self, row: Row, now: float) -> Row | None:
        """Take a newer snapshot of a case; return the row it replaced (None if new or stale)."""
        old = self.rows.get(row.case_id)
        if old is not None and old.version >= row.version:
            return None
        self.evict(now)
        if old is not None:
            self._index(old, -1)
        self.rows[row.case_id] = row
        self._index(row, +1)
        return old

    def remove(self, case_id: str) -> Row | None:
        old = self.rows.pop(case_id, None)
        if old is not None:
            self._index(old, -1)
        return old

    def evict(self, now: float) -> None:
        """Cases that left the aggregate window take their durations with them."""
        self.horizon = max(self.horizon, now - self.window)
        while self.recent and self.recent[0][0] < self.horizon:
            row = self.rows[self.recent[0][1]]
            self._durations(row, -1)

    def _index(self, row: Row, sign: int) -> None:
        for scope in scopes_of(row):
            self._edit(self.columns, (scope, row.stage), row.order, sign)
            if row.awaiting_acceptance:
                self._edit(self.awaiting, scope, (row.ack_due_at, row.case_id), sign)
            if row.cp_status in RUNNING_CP and row.cp_valid_until is not None:
                self._edit(self.cp_running, scope, (row.cp_valid_until, row.case_id), sign)
            counts = self.counts.setdefault(scope, Counter())
            for key in _counted(row):
                counts[key] += sign
        self._durations(row, sign)

    def _durations(self, row: Row, sign: int) -> None:
        if (sign > 0 and row.opened_at < self.horizon) or (sign < 0 and row.case_id not in self.windowed):
            return
        (self.windowed.add if sign > 0 else self.windowed.discard)(row.case_id)
        self._edit({0: self.recent}, 0, (row.opened_at, row.case_id), sign)
        for scope in scopes_of(row):
            if row.assigned_at is not None:
                self._edit(self.to_assignment, scope, (row.assigned_at - row.opened_at, row.case_id), sign)
            if row.accepted_at is not None:
                self._edit(self.to_acceptance, scope, (row.accepted_at - row.opened_at, row.case_id), sign)
            if row.closed and row.closed_at is not None:
                self._edit(self.to_close, scope, (row.closed_at - row.opened_at, row.case_id), sign)

    @staticmethod
    def _edit(lists: dict, key: object, item: tuple, sign: int) -> None:
        if sign > 0:
            lists.setdefault(key, SortedList()).add(item)
        elif key in lists:
            lists[key].discard(item)

    # -- reading ------------------------------------------------------------------------

    def column(self, scopes: Iterable[Scope], stage: str, limit: int, offset: int = 0) -> list[Row]:
        lists = [self.columns[(s, stage)] for s in scopes if (s, stage) in self.columns]
        merged: Iterator[tuple] = heapq.merge(*lists) if len(lists) > 1 else iter(lists[0] if lists else ())
        return [self.rows[key[2]] for key in islice(merged, offset, offset + limit)]

    def count(self, scopes: Iterable[Scope], key: str) -> int:
        return sum(self.counts.get(s, Counter())[key] for s in scopes)

    def due_before(self, scopes: Iterable[Scope], moment: float, *, cp: bool = False) -> int:
        """Unaccepted referrals due (or CP running out) before ``moment``."""
        source = self.cp_running if cp else self.awaiting
        return sum(source[s].bisect_left((moment,)) for s in scopes if s in source)

    def percentile(self, scopes: Iterable[Scope], share: float, *, acceptance: bool = False,
                   close: bool = False) -> tuple[float | None, int]:
        """The nearest-rank percentile (seconds) over the window, and how many cases it covers:
        time to assignment, to acceptance, or (of the closed cases) from opening to closing."""
        source = self.to_close if close else self.to_acceptance if acceptance else self.to_assignment
        lists = [source[s] for s in scopes if source.get(s)]
        total = sum(len(x) for x in lists)
        if not total:
            return None, 0
        rank = max(0, min(total - 1, int(share * total + 0.999999) - 1))
        return _select(lists, rank), total


def _counted(row: Row) -> list[str]:
    """The counters a row adds to: stage and priority, referral, HHS, CP, needs, breaches."""
    keys = [f"stage:{row.stage}", f"priority:{row.priority}", f"stage:{row.stage}:{row.priority}",
            f"hhs:{row.hhs}", f"cp:{row.cp_status}", "cases"]  # a minor's HHS notice outlives a closure
    if row.closed:
        keys.append(f"closed:{row.closure_reason}")
    else:  # the referral of a closed case waits for nobody
        keys.append(f"referral:{row.referral_status}")
        keys += [f"need:{need}" for need in row.urgent_needs]
        keys += ["needs_holder"] * row.needs_holder + ["handover"] * bool(row.handover_to)
        keys += ["realerts"] * row.realerts + ["realerted"] * bool(row.realerts)
    if row.escalations:
        keys += ["breached"] + ["escalations"] * row.escalations
    return keys


def _select(lists: list[SortedList], rank: int) -> float:
    """The ``rank``-th smallest value across sorted lists (0-based), by bisection on the value."""
    if len(lists) == 1:
        return float(lists[0][rank][0])
    lo = min(x[0][0] for x in lists) - 1.0
    hi = max(x[-1][0] for x in lists)
    for _ in range(60):  # invariant: fewer than rank+1 values <= lo, at least rank+1 values <= hi
        mid = (lo + hi) / 2
        if sum(x.bisect_right((mid, "\U0010ffff")) for x in lists) > rank:
            hi = mid
        else:
            lo = mid
    return float(min(x[i][0] for x in lists if (i := x.bisect_right((lo, "\U0010ffff"))) < len(x)))
