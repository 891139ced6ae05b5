"""The capacity ledger: what keeps ``max_active_cases`` true with any number of instances.

A specialist has ``max_active_cases`` numbered slots; a hold is one document per taken
slot, ``{_id: "<specialist>|<slot>", specialist_id, token}``, its token
``<case id>#<attempt>`` naming the assignment. Taking a slot is an *insert*: the unique
``_id`` makes it atomic on MongoDB and on FerretDB alike (FerretDB 1.24 applies a
conditional update as read, then write, so two updates racing on one counter both pass:
a counter cannot guard capacity there; a primary key can). The token is unique too, so
one assignment attempt holds one slot of one specialist, however many instances decide
it at the same time.

Without multi-document transactions the referral write and its hold cannot be one step,
so the order makes every failure err on the safe side — a slot held too long, never a
specialist over capacity:

* **Reserve before the write** (the Workflow's ``before_write``). A case that finds no
  free slot goes back to ``decide`` with fresh loads.
* **Release after the write** (``after_write``): the replaced holder's slot is freed only
  once the referral document no longer names it.
* **Reconcile** what a crash or a lost race left behind: a token ``X#k`` is dead once case
  ``X`` has made attempt ``k`` and neither its current assignment nor its handover offer is that token (attempts only
  grow, so a dead token can never live again) and is released at once; a token for an
  attempt the case has not recorded yet is released only after ``grace`` (its write may
  still be in flight).

The process keeps its own view of the holds, read once and then kept up to date by its
own takes and releases, so a batch costs what it assigns, not how many cases are open.
Another instance's takes show up as a refused insert (the slot is re-read then) and in
the reconciler's periodic full read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared import logging as caselog
from shared.mongo import DUPLICATE_KEY, MAX_INSERTS_PER_COMMAND, bulk_write, chunks

log = caselog.get_logger("casework.referral.ledger")
CHUNK = 200


@dataclass
class LedgerView:
    held: dict[str, str] = field(default_factory=dict)  # token -> specialist
    slots: dict[str, dict[int, str]] = field(default_factory=dict)  # specialist -> {slot: token}
    last_assigned: dict[str, datetime | None] = field(default_factory=dict)

    def loads(self) -> dict[str, tuple[int, datetime | None]]:
        """Per specialist: ``(slots held, last assigned at)``."""
        counts = Counter(self.held.values())
        return {s: (counts.get(s, 0), self.last_assigned.get(s)) for s in counts.keys() | self.last_assigned.keys()}


class CapacityLedger:
    def __init__(self, holds: AsyncCollection, assigned: AsyncCollection) -> None:
        self.holds = holds
        self.assigned = assigned  # per specialist: when a case last went to them
        self._view: LedgerView | None = None

    async def ensure_indexes(self) -> None:
        await self.holds.create_index("specialist_id", name="specialist")
        await self.holds.create_index("token", name="token", unique=True)

    async def view(self) -> LedgerView:
        """Every hold and when each specialist last got a case (read in full only once)."""
        if self._view is None:
            await self.refresh()
        assert self._view is not None
        return self._view

    async def refresh(self) -> list[dict[str, Any]]:
        """Read every hold again (start-up, reconciliation: other instances move them too)."""
        view = LedgerView()
        holds = [d async for d in self.holds.find({})]
        for hold in holds:
            view.held[hold["token"]] = hold["specialist_id"]
            view.slots.setdefault(hold["specialist_id"], {})[hold["slot"]] = hold["token"]
        view.last_assigned = {d["_id"]: d.get("at") async for d in self.assigned.find({})}
        self._view = view
        return holds

    def _noted(self, specialist_id: str, slot: int, token: str | None) -> None:
        """Keep the view in step with a take (``token``) or a release (``None``)."""
        if self._view is None:
            return
        slots = self._view.slots.setdefault(specialist_id, {})
        if token is None:
            self._view.held.pop(slots.pop(slot, ""), None)
        else:
            slots[slot] = token
            self._view.held[token] = specialist_id

    async def reserve(self, specialist_id: str, tokens: list[str], maximum: int, now: datetime,
                      taken: dict[int, str] | None = None) -> set[str]:
        """Hold a slot per token within ``maximum``; return the tokens that found none.

        ``taken`` is what this batch read of the specialist's slots: a slot taken since only
        costs a failed insert.
        """
        if taken is None:
            taken = {d["slot"]: d["token"] async for d in self.holds.find({"specialist_id": specialist_id})}
        taken = dict(taken)
        missed = set()
        for token in tokens:
            if token not in taken.values() and not await self._take_slot(specialist_id, token, maximum, taken):
                missed.add(token)
        if len(missed) < len(tokens):
            await self.assigned.update_one({"_id": specialist_id}, {"$max": {"at": now}}, upsert=True)
            if self._view is not None:
                last = self._view.last_assigned.get(specialist_id)
                self._view.last_assigned[specialist_id] = max(last, now) if last else now
        return missed

    async def reserve_all(self, wanted: list[tuple[str, list[str], int, dict[int, str]]], now: datetime) -> set[str]:
        """:meth:`reserve` for several specialists at once: ``(specialist, tokens, maximum,
        taken)`` each. Every free slot the batch's view shows is taken in one insert command
        (a slot taken meanwhile, or a token held already, is then tried the careful way, one
        slot at a time); return the tokens that found none."""
        planned: list[tuple[str, int, str]] = []
        missed: set[str] = set()
        for specialist_id, tokens, maximum, taken in wanted:
            held = set(taken.values())
            new = [t for t in tokens if t not in held]
            free = [n for n in range(maximum) if n not in taken][:max(0, maximum - len(taken))]
            planned += [(specialist_id, slot, token) for token, slot in zip(new, free, strict=False)]
            missed |= set(new[len(free):])
        failed: set[int] = set()
        for start in range(0, len(planned), MAX_INSERTS_PER_COMMAND):
            chunk = planned[start:start + MAX_INSERTS_PER_COMMAND]
            try:
                await bulk_write(self.holds, [InsertOne({"_id": f"{s}|{n}", "specialist_id": s, "slot": n, "token": t})
                                              for s, n, t in chunk], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                failed |= {start + e["index"] for e in errors}
        for index, (specialist_id, slot, token) in enumerate(planned):
            if index not in failed:
                self._noted(specialist_id, slot, token)
        maxima = {s: (m, t) for s, _, m, t in wanted}
        for index in sorted(failed):  # someone else was quicker: slot by slot, as :meth:`reserve` does
            specialist_id, _, token = planned[index]
            maximum, taken = maxima[specialist_id]
            mine = {n: t for i, (s, n, t) in enumerate(planned) if s == specialist_id and i not in failed}
            missed |= await self.reserve(specialist_id, [token], maximum, now, taken={**taken, **mine})
        served = sorted({s for s, _, t in planned if t not in missed})
        if served:
            for chunk in chunks([UpdateOne({"_id": s}, {"$max": {"at": now}}, upsert=True) for s in served]):
                await bulk_write(self.assigned, chunk, ordered=False)
            if self._view is not None:
                for specialist_id in served:
                    last = self._view.last_assigned.get(specialist_id)
                    self._view.last_assigned[specialist_id] = max(last, now) if last else now
        return missed

    async def _take_slot(self, specialist_id: str, token: str, maximum: int, taken: dict[int, str]) -> bool:
        for slot in range(maximum):
            if len(taken) >= maximum:
                return False  # a lowered maximum: slots above it still count
            if slot in taken:
                continue
            try:
                await self.holds.insert_one({"_id": f"{specialist_id}|{slot}", "specialist_id": specialist_id,
                                             "slot": slot, "token": token})
            except DuplicateKeyError:
                holder = await self.holds.find_one({"token": token})
                if holder is not None:  # this very assignment is held already, here or elsewhere
                    self._noted(holder["specialist_id"], holder["slot"], token)
                    return holder["specialist_id"] == specialist_id
                other = await self.holds.find_one({"_id": f"{specialist_id}|{slot}"})
                taken[slot] = other["token"] if other else "?"  # another instance took the slot first
                if other:
                    self._noted(specialist_id, slot, other["token"])
                continue
            taken[slot] = token
            self._noted(specialist_id, slot, token)
            return True
        return False

    async def release(self, specialist_id: str, token: str) -> int:
        slots = (await self.view()).slots.get(specialist_id, {})
        slot = next((n for n, t in slots.items() if t == token), None)
        if slot is None:  # not taken by this process's view: look it up (rare)
            found = await self.holds.find_one({"specialist_id": specialist_id, "token": token})
            slot = found["slot"] if found else None
        if slot is None:
            return 0
        self._noted(specialist_id, slot, None)
        return (await self.holds.delete_one({"_id": f"{specialist_id}|{slot}", "token": token})).deleted_count

    async def holds_of(self, specialist_ids: list[str]) -> list[tuple[str, str]]:
        """``(specialist, case id)`` of every hold of these specialists, as stored (any instance's)."""
        found = self.holds.find({"specialist_id": {"$in": specialist_ids}})
        return sorted({(d["specialist_id"], split(d["token"])[0]) async for d in found})

    async def release_slot(self, slot_id: str) -> int:
        specialist_id, _, slot = slot_id.rpartition("|")
        if slot.isdigit():
            self._noted(specialist_id, int(slot), None)
        return (await self.holds.delete_one({"_id": slot_id})).deleted_count


class Reconciler:
    """Releases holds no referral stands behind (see the module docstring)."""

    def __init__(self, ledger: CapacityLedger, load: Callable[[list[str]], Awaitable[Mapping[str, Any]]],
                 grace: timedelta) -> None:
        self.ledger = ledger
        self.load = load  # referral records by case id
        self.grace = grace
        self.pending: dict[str, datetime] = {}  # slot id -> first seen waiting for its write

    async def run(self, now: datetime) -> int:
        holds = await self.ledger.refresh()  # other instances' takes and releases, too
        cases = await self._referrals({split(d["token"])[0] for d in holds})
        released, pending = 0, {}
        for hold in holds:
            key = (hold["specialist_id"], hold["token"])
            verdict = judge(key, cases.get(split(hold["token"])[0]))
            if verdict == "live":
                continue
            if verdict == "pending":
                first_seen = pending[hold["_id"]] = self.pending.get(hold["_id"], now)
                if now - first_seen < self.grace:
                    continue
            if await self.ledger.release_slot(hold["_id"]):
                released += 1
                log.warning("stale capacity hold released", specialist_id=key[0], hold=key[1], why=verdict)
        self.pending = pending
        return released

    async def _referrals(self, case_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids, found = sorted(case_ids), dict[str, dict[str, Any]]()
        for start in range(0, len(ids), CHUNK):
            records = await self.load(ids[start:start + CHUNK])
            found |= {case_id: record.state or {} for case_id, record in records.items()}
        return found


def split(token: str) -> tuple[str, int]:
    case_id, _, attempt = token.rpartition("#")
    return case_id, int(attempt) if attempt.isdigit() else 0


def judge(hold: tuple[str, str], state: Mapping[str, Any] | None) -> str:
    """``live``, ``dead`` (never live again) or ``pending`` (its write may be in flight)."""
    specialist_id, token = hold
    _, attempt = split(token)
    if not state or state.get("attempts", 0) < attempt:
        return "pending"
    current, offer = state.get("current") or {}, state.get("offer") or {}
    if (state.get("status") in ("assigned", "accepted") and current.get("attempt") == attempt
            and current.get("specialist_id") == specialist_id):
        return "live"
    if (state.get("status") == "accepted" and offer.get("attempt") == attempt
            and offer.get("specialist_id") == specialist_id):
        return "live"  # a handover offer holds its slot while the holder keeps theirs
    return "dead"
