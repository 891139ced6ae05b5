"""Durable timers on MongoDB (docs/design.md, "Durable timers"): the per-second index.

A state keeps ``timers: {name: due_at}``; the workflow's sweep fires them. Where each
aggregate's next timer falls is also noted here, one document per second
(``{_id: "20261130173502", entries: [{a: aggregate id, t: due_at}]}``), written *before*
the aggregate so no timer is ever missing from it; so is, for every write with an outbox,
when to look whether that outbox went out (``{a, t, k: "r", w: writer, s: seq}``). A sweep reads only the
seconds that have come due, by ``_id`` — the one index every MongoDB-wire server uses
for sure (FerretDB pushes no range query on another field down to SQLite), so a sweep
costs what is due, not what the collection has accumulated. A batch's hints cost one
update per second they fall in, and a bucket holds one second's worth, so no document
grows with the rate. An entry is a hint: the aggregate's own state says whether a timer
is really due, and a stale entry is just dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.kit.records import DueTimer, Hint, Stamp, to_millis
from shared.mongo import bulk_write, chunks

SECOND = "%Y%m%d%H%M%S"
READ_EACH_UP_TO = 120  # seconds; a longer gap (a restart, a test's clock jump) is one range read
RELAY = "r"


def bucket_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SECOND)


def entry_of(hint: Hint) -> dict[str, Any]:
    entry: dict[str, Any] = {"a": hint.aggregate_id, "t": to_millis(hint.due_at)}
    if hint.relay:
        entry |= {"k": RELAY, "w": hint.relay.writer, "s": hint.relay.seq}
    return entry


def timer_of(bucket: str, entry: dict[str, Any]) -> DueTimer:
    relay = Stamp(entry["w"], entry["s"]) if entry.get("k") == RELAY else None
    return DueTimer(bucket, entry["a"], entry["t"], relay)


class MongoTimerIndex:
    """The per-second index of one aggregate collection's timers and relay hints."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self.cursor: str | None = None  # the earliest second that may still hold due entries
        self.read_through: str | None = None  # the last second the latest ``due`` read
        # A second's document is shared by every aggregate whose hint falls in it, and FerretDB
        # applies two concurrent updates of one document as read, modify, replace (one is lost):
        # this process changes the index one command at a time (writes of different aggregates
        # may overlap, a sweep's ``done`` runs beside them).
        self._changing = asyncio.Lock()

    async def note(self, hints: Iterable[Hint]) -> None:
        """A hint already due when written is filed under the second it was written in,
        which the sweeps still read, rather than under a second they have left behind."""
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        for hint in hints:
            by_bucket.setdefault(bucket_of(max(hint.due_at, hint.written_at)), []).append(entry_of(hint))
        ops = [UpdateOne({"_id": b}, {"$addToSet": {"entries": {"$each": es}}}, upsert=True)
               for b, es in sorted(by_bucket.items())]
        if not ops:
            return
        async with self._changing:
            for chunk in chunks(ops):
                await bulk_write(self.collection, chunk, ordered=False)

    async def due(self, now: datetime, limit: int) -> list[DueTimer]:
        last = bucket_of(now)
        if self.cursor is None:
            first = await self.collection.find({}, {"_id": 1}).sort("_id", 1).limit(1).to_list()
            self.cursor = first[0]["_id"] if first else last
        if self.cursor > last:
            return []
        self.read_through = last
        docs = await self._buckets(self.cursor, last)
        due = [timer_of(d["_id"], e) for d in sorted(docs, key=lambda d: d["_id"])
               for e in sorted(d.get("entries", []), key=lambda e: e["t"]) if e["t"] <= now]
        if not due:
            self.cursor = last  # nothing due up to now: the past seconds are empty
        return due[:limit]

    async def _buckets(self, first: str, last: str) -> list[dict[str, Any]]:
        start, end = (datetime.strptime(b, SECOND).replace(tzinfo=UTC) for b in (first, last))
        span = int((end - start).total_seconds())
        if span > READ_EACH_UP_TO:
            return await self.collection.find({"_id": {"$gte": first, "$lte": last}}).to_list()
        buckets = [bucket_of(start + timedelta(seconds=i)) for i in range(span + 1)]
        found = await asyncio.gather(*(self.collection.find_one({"_id": b}) for b in buckets))
        return [d for d in found if d]

    async def done(self, handled: Sequence[DueTimer], now: datetime, *, complete: bool) -> None:
        """Forget handled entries; drop emptied past buckets; move the cursor on."""
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        for timer in handled:
            entry = entry_of(Hint(timer.aggregate_id, timer.due_at, timer.due_at, timer.relay))
            by_bucket.setdefault(timer.bucket, []).append(entry)
        current = bucket_of(now)
        ops = [UpdateOne({"_id": b}, {"$pullAll": {"entries": es}}) for b, es in by_bucket.items()]
        async with self._changing:
            for chunk in chunks(ops):
                await bulk_write(self.collection, chunk, ordered=False)
            for bucket in by_bucket:
                if bucket < current:
                    await self.collection.delete_one({"_id": bucket, "entries": {"$size": 0}})
        # Everything due when ``due`` read was handled: later sweeps start at the last second it
        # read, never past it (the seconds since, while the hints were handled, are unread).
        if complete and self.read_through is not None:
            self.cursor = min(current, self.read_through)
        elif handled:
            self.cursor = handled[-1].bucket
