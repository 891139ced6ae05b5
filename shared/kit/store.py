"""One MongoDB document per aggregate: state, version, seen event ids, outbox, next timer.

Every change to an aggregate is a single document write guarded by its ``version``
(optimistic concurrency): FerretDB has no multi-document transactions, and none are
needed when the new state, the ids of the events that produced it and the events to
publish travel together in one document.

Every read and write on the hot path goes by ``_id``: FerretDB pushes only an ``_id``
equality down to SQLite (with the lookup fixes ``infra/ferretdb`` builds in), so those
cost the same at a hundred documents or a million; a query on any other field reads the
whole collection there. Such queries run only at start-up and in operator tools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from shared.kit.outcomes import Refused
from shared.kit.records import Hint, Record, Write
from shared.kit.timers import MongoTimerIndex
from shared.mongo import DUPLICATE_KEY, MAX_INSERTS_PER_COMMAND, bulk_write, chunks, ensure_indexes, find_by_ids

Doc = dict[str, Any]
UNIQUE_CONSTRAINT = "UNIQUE constraint failed"


def operation(write: Write) -> InsertOne[Doc] | UpdateOne:
    if write.expected_version == 0:
        return InsertOne({"_id": write.id, **write.document()})
    return UpdateOne({"_id": write.id, "version": write.expected_version}, {"$set": write.document()})


def lost(writes: Sequence[Write], stored: Mapping[str, Record]) -> set[str]:
    """Of writes that matched nothing, those whose events the stored aggregate lacks
    (the others were written meanwhile by someone deciding the same events)."""
    return {w.id for w in writes if not set(w.applied) <= set(stored[w.id].seen if w.id in stored else ())}


class MongoAggregateStore:
    """The Mongo side of the kit for one collection of aggregates."""

    def __init__(self, collection: AsyncCollection[Doc], indexes: Sequence[Any] = ()) -> None:
        self.collection = collection
        self.extra_indexes = list(indexes)
        self._timers = MongoTimerIndex(collection.database[f"{collection.name}_timers"])
        self.watermark_docs = collection.database[f"{collection.name}_watermarks"]

    @property
    def timers(self) -> MongoTimerIndex:
        return self._timers

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.collection, self.extra_indexes)

    async def load(self, ids: Sequence[str]) -> dict[str, Record]:
        return {i: Record.from_doc(doc) for i, doc in (await find_by_ids(self.collection, ids)).items()}

    async def write(self, writes: Sequence[Write]) -> set[str]:
        if not writes:
            return set()
        # The index first: a timer or an outbox written is never missing from it (a hint too many is harmless).
        await self.timers.note(h for w in writes for h in w.hints())
        conflicted: set[str] = set()
        matched = 0
        inserts = [w for w in writes if w.expected_version == 0]
        updates = [w for w in writes if w.expected_version != 0]
        for chunk in chunks(inserts, MAX_INSERTS_PER_COMMAND) + chunks(updates):
            try:
                result = await bulk_write(self.collection, [operation(w) for w in chunk], ordered=False)
                matched += result.matched_count + result.inserted_count
            except BulkWriteError as exc:
                conflicted |= await self._conflicts(chunk, exc.details.get("writeErrors", []))
                matched += exc.details.get("nMatched", 0) + exc.details.get("nInserted", 0)
            except OperationFailure as exc:
                if UNIQUE_CONSTRAINT not in str(exc):
                    raise
                # FerretDB (SQLite) reports an update a unique index refuses as a failed command.
                raise Refused("a unique index other than the aggregate's refused the write") from None
        if matched + len(conflicted) < len(writes):
            pending = [w for w in writes if w.id not in conflicted]
            conflicted |= lost(pending, await self.load([w.id for w in pending]))
        return conflicted

    async def _conflicts(self, chunk: list[Write], errors: list[dict[str, Any]]) -> set[str]:
        """The inserts that found their aggregate there already; any other refusal is final.

        A duplicate key may come from another unique index (FerretDB does not say which):
        an insert is a version conflict only when a document with its ``_id`` exists.
        """
        inserts = [e for e in errors if e.get("code") == DUPLICATE_KEY and not chunk[e["index"]].expected_version]
        others = sorted({str(e.get("code")) for e in errors if e not in inserts})
        ids = {chunk[e["index"]].id for e in inserts}
        existing = set(await find_by_ids(self.collection, ids, {"_id": 1})) if ids else set()
        if others:
            raise Refused(f"the database refused the write for good (error code {', '.join(others)})")
        if existing != ids:
            raise Refused("a unique index other than the aggregate's refused the write")
        return existing

    async def load_watermarks(self) -> dict[str, int]:
        return {d["_id"]: d["through"] async for d in self.watermark_docs.find({})}

    async def save_watermark(self, writer: str, through: int, at: datetime) -> None:
        await self.watermark_docs.update_one({"_id": writer}, {"$max": {"through": through}, "$set": {"at": at}},
                                             upsert=True)

    async def wake(self, where: Mapping[str, Any], timer: str, now: datetime) -> int:
        """The version moves too, so a write decided from the state before is redone with it."""
        moment = TypeAdapter(datetime).dump_python(now, mode="json")  # states are stored as JSON
        ids = [d["_id"] async for d in self.collection.find(dict(where), {"_id": 1})]
        await self.timers.note(Hint(i, now, now) for i in ids)
        result = await self.collection.update_many(
            {"_id": {"$in": ids}} if ids else dict(where),
            {"$set": {f"state.timers.{timer}": moment, "due_at": now}, "$inc": {"version": 1}})
        return result.modified_count


class MongoBackend:
    """A service's aggregates in its own database."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db

    def aggregates(self, collection: str, indexes: Sequence[Any] = ()) -> MongoAggregateStore:
        return MongoAggregateStore(self.db[collection], indexes)
