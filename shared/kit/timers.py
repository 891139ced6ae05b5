"""Durable timers on MongoDB (docs/design.md, "Durable timers"): the minute index.

A state keeps ``timers: {name: due_at}``; the workflow's sweep fires them. Where each
aggregate's next timer falls is also noted here, one document per minute
(``{_id: "202611301735", entries: [{a: aggregate id, t: due_at}]}``), written *before*
the aggregate so no timer is ever missing from it. A sweep reads only the minutes that
have come due, by ``_id`` — the one index every MongoDB-wire server uses for sure
(FerretDB pushes no range query on another field down to SQLite), so a sweep costs what
is due, not what the collection has accumulated. An entry is a hint: the aggregate's own
state says whether a timer is really due, and a stale entry is just dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.kit.ports import DueTimer
from shared.kit.records import to_millis
from shared.mongo import bulk_write, chunks

MINUTE = "%Y%m%d%H%M"
READ_EACH_UP_TO = 120  # minutes; a longer gap (a restart, a test's clock jump) is one range read


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MINUTE)


class MongoTimerIndex:
    """The minute index of one aggregate collection's timers."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self.cursor: str | None = None  # the earliest minute that may still hold due entries

    async def note(self, timers: Iterable[tuple[str, datetime, datetime]]) -> None:
        """A timer already due when written is filed under the minute it was written in,
        which the sweeps still read, rather than under a minute they have left behind."""
        ops = [UpdateOne({"_id": minute_of(max(at, written))},
                         {"$addToSet": {"entries": {"a": aid, "t": to_millis(at)}}}, upsert=True)
               for aid, at, written in timers]
        for chunk in chunks(ops):
            await bulk_write(self.collection, chunk, ordered=False)

    async def due(self, now: datetime, limit: int) -> list[DueTimer]:
        last = minute_of(now)
        if self.cursor is None:
            first = await self.collection.find({}, {"_id": 1}).sort("_id", 1).limit(1).to_list()
            self.cursor = first[0]["_id"] if first else last
        if self.cursor > last:
            return []
        docs = await self._minutes(self.cursor, last)
        due = [DueTimer(d["_id"], e["a"], e["t"]) for d in sorted(docs, key=lambda d: d["_id"])
               for e in sorted(d.get("entries", []), key=lambda e: e["t"]) if e["t"] <= now]
        if not due:
            self.cursor = last  # nothing due up to now: the past minutes are empty
        return due[:limit]

    async def _minutes(self, first: str, last: str) -> list[dict[str, Any]]:
        start, end = (datetime.strptime(m, MINUTE).replace(tzinfo=UTC) for m in (first, last))
        span = int((end - start).total_seconds() // 60)
        if span > READ_EACH_UP_TO:
            return await self.collection.find({"_id": {"$gte": first, "$lte": last}}).to_list()
        minutes = [minute_of(start + timedelta(minutes=i)) for i in range(span + 1)]
        found = await asyncio.gather(*(self.collection.find_one({"_id": m}) for m in minutes))
        return [d for d in found if d]

    async def done(self, handled: Sequence[DueTimer], now: datetime, *, complete: bool) -> None:
        """Forget handled entries; drop emptied past minutes; move the cursor on."""
        by_minute: dict[str, list[dict[str, Any]]] = {}
        for timer in handled:
            by_minute.setdefault(timer.bucket, []).append({"a": timer.aggregate_id, "t": timer.due_at})
        current = minute_of(now)
        ops = [UpdateOne({"_id": m}, {"$pullAll": {"entries": es}}) for m, es in by_minute.items()]
        for chunk in chunks(ops):
            await bulk_write(self.collection, chunk, ordered=False)
        for minute in by_minute:
            if minute < current:
                await self.collection.delete_one({"_id": minute, "entries": {"$size": 0}})
        # Everything due up to now was handled: later sweeps start at the current minute.
        self.cursor = current if complete else (handled[-1].bucket if handled else self.cursor)
