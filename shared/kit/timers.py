"""Durable timers (docs/design.md): a state keeps ``timers: {name: due_at}``; a sweeper fires them.

Where each aggregate's next timer falls is also noted in a small index collection, one
document per minute (``{_id: "202611301735", entries: [{a: aggregate id, t: due_at}]}``),
written *before* the aggregate so no timer is ever missing from it. The sweeper reads only
the minutes that have come due, by ``_id`` — the one index every MongoDB-wire server
uses for sure (FerretDB pushes no range query on another field down to SQLite), so a
sweep costs what is due, not what the collection has accumulated. An entry is a hint:
the aggregate's own state says whether a timer is really due, and a stale entry is just
dropped. ``TimerFired`` carries a deterministic id through the same ``decide`` path, so
two sweepers, or one that crashed half-way, fire each timer once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.kit.inbound import Inbound
from shared.kit.metrics import METRICS
from shared.mongo import bulk_write, chunks

if TYPE_CHECKING:
    from shared.kit.workflow import Workflow

SWEEP_LIMIT = 500
MINUTE = "%Y%m%d%H%M"
READ_EACH_UP_TO = 120  # minutes; a longer gap (a restart, a test's clock jump) is one range read


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MINUTE)


def to_millis(moment: datetime) -> datetime:
    """BSON dates keep milliseconds: an entry must compare equal to what is read back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class TimerIndex:
    """The minute index of one aggregate collection's timers."""

    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection
        self.cursor: str | None = None  # the earliest minute that may still hold due entries

    async def note(self, timers: Iterable[tuple[str, datetime, datetime]]) -> None:
        """Record ``(aggregate id, due at, written at)`` timers (idempotent).

        A timer already due when written is filed under the minute it was written in, which
        the sweepers still read, rather than under a minute they have left behind.
        """
        ops = [UpdateOne({"_id": minute_of(max(at, written))},
                         {"$addToSet": {"entries": {"a": aid, "t": to_millis(at)}}}, upsert=True)
               for aid, at, written in timers]
        for chunk in chunks(ops):
            await bulk_write(self.collection, chunk, ordered=False)

    async def due(self, now: datetime, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """``(minute, entry)`` pairs due by ``now``, oldest first, at most ``limit``."""
        last = minute_of(now)
        if self.cursor is None:
            first = await self.collection.find({}, {"_id": 1}).sort("_id", 1).limit(1).to_list()
            self.cursor = first[0]["_id"] if first else last
        if self.cursor > last:
            return []
        docs = await self._minutes(self.cursor, last)
        due = [(d["_id"], e) for d in sorted(docs, key=lambda d: d["_id"])
               for e in sorted(d.get("entries", []), key=lambda e: e["t"]) if e["t"] <= now]
        return due[:limit]

    async def _minutes(self, first: str, last: str) -> list[dict[str, Any]]:
        start, end = (datetime.strptime(m, MINUTE).replace(tzinfo=UTC) for m in (first, last))
        span = int((end - start).total_seconds() // 60)
        if span > READ_EACH_UP_TO:
            return await self.collection.find({"_id": {"$gte": first, "$lte": last}}).to_list()
        minutes = [minute_of(start + timedelta(minutes=i)) for i in range(span + 1)]
        found = await asyncio.gather(*(self.collection.find_one({"_id": m}) for m in minutes))
        return [d for d in found if d]

    async def done(self, handled: list[tuple[str, dict[str, Any]]], now: datetime, *, complete: bool) -> None:
        """Forget handled entries; drop emptied past minutes; move the cursor on."""
        by_minute: dict[str, list[dict[str, Any]]] = {}
        for minute, entry in handled:
            by_minute.setdefault(minute, []).append(entry)
        current = minute_of(now)
        ops = [UpdateOne({"_id": m}, {"$pullAll": {"entries": es}}) for m, es in by_minute.items()]
        for chunk in chunks(ops):
            await bulk_write(self.collection, chunk, ordered=False)
        for minute in by_minute:
            if minute < current:
                await self.collection.delete_one({"_id": minute, "entries": {"$size": 0}})
        # Everything due up to now was handled: later sweeps start at the current minute.
        self.cursor = current if complete else (handled[-1][0] if handled else self.cursor)


async def sweep(workflow: Workflow[Any], now: datetime, limit: int = SWEEP_LIMIT) -> int:
    """Fire every timer due at ``now`` (up to ``limit`` noted entries); return how many fired."""
    index = workflow.store.timers
    entries = await index.due(now, limit)
    METRICS.timers_due.labels(workflow.service).set(len(entries))
    if not entries:
        index.cursor = minute_of(now)  # nothing due up to now: past minutes are empty
        return 0
    records = await workflow.store.load(sorted({e["a"] for _, e in entries}))
    events: list[Inbound] = []
    for record in records.values():
        state = workflow._state(record)
        due = sorted((at, name) for name, at in (getattr(state, "timers", None) or {}).items() if at <= now)
        events += [Inbound.timer(record.id, name, at) for at, name in due]
    if events:
        await workflow.handle(events)
        METRICS.timers_fired.labels(workflow.service).inc(len(events))
    async with workflow.writing:
        await index.done(entries, now, complete=len(entries) < limit)
    return len(events)
