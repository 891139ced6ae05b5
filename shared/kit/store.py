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

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.kit.timers import TimerIndex, to_millis
from shared.mongo import bulk_write, chunks, find_by_ids

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEEN_LIMIT = 2000  # event ids remembered per aggregate; far more than one case receives


@dataclass
class Record:
    """An aggregate as stored."""

    id: str
    version: int
    state: dict[str, Any] | None
    seen: list[str] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    due_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Record:
        return cls(doc["_id"], doc["version"], doc.get("state"), doc.get("seen", []), doc.get("outbox", []),
                   doc.get("due_at"))


@dataclass
class Write:
    """The next version of one aggregate, to be written only over ``expected_version``."""

    id: str
    expected_version: int  # 0: the aggregate does not exist yet
    state: dict[str, Any] | None
    seen: list[str]
    outbox: list[dict[str, Any]]
    due_at: datetime | None
    now: datetime
    applied: list[str] = field(default_factory=list)  # ids of the events this write records
    previous_due: datetime | None = None  # the stored due_at this write replaces

    @property
    def timer_moved(self) -> bool:
        return self.due_at is not None and to_millis(self.due_at) != self.previous_due

    @property
    def version(self) -> int:
        return self.expected_version + 1

    def document(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "state": self.state,
            "seen": self.seen[-SEEN_LIMIT:],
            "outbox": self.outbox,
            "due_at": self.due_at,
            "outbox_since": self.now if self.outbox else None,
            "updated_at": self.now,
        }

    def operation(self) -> InsertOne | UpdateOne:
        if self.expected_version == 0:
            return InsertOne({"_id": self.id, **self.document()})
        return UpdateOne({"_id": self.id, "version": self.expected_version}, {"$set": self.document()})


class AggregateStore:
    """The Mongo side of the kit for one collection of aggregates."""

    def __init__(self, collection: AsyncCollection, indexes: list[Any] | None = None) -> None:
        self.collection = collection
        self.extra_indexes = indexes or []
        self.timers = TimerIndex(collection.database[f"{collection.name}_timers"])

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("outbox_since", ASCENDING)], name="outbox_since")
        for index in self.extra_indexes:
            await self.collection.create_indexes([index])

    async def load(self, ids: list[str]) -> dict[str, Record]:
        return {i: Record.from_doc(doc) for i, doc in (await find_by_ids(self.collection, ids)).items()}

    async def get(self, aggregate_id: str) -> Record | None:
        doc = await self.collection.find_one({"_id": aggregate_id})
        return Record.from_doc(doc) if doc else None

    async def write(self, writes: list[Write]) -> set[str]:
        """Apply the writes; return the ids whose version moved under us (to redo)."""
        if not writes:
            return set()
        # The timer index first: a timer written is never missing from it (a hint too many is harmless).
        await self.timers.note((w.id, w.due_at, w.now) for w in writes if w.timer_moved)
        conflicted: set[str] = set()
        matched = 0
        for chunk in chunks(writes):
            try:
                result = await bulk_write(self.collection, [w.operation() for w in chunk], ordered=False)
                matched += result.matched_count + result.inserted_count
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != 11000 for e in errors):
                    raise
                conflicted |= {chunk[e["index"]].id for e in errors}
                matched += exc.details.get("nMatched", 0) + exc.details.get("nInserted", 0)
        if matched + len(conflicted) < len(writes):
            conflicted |= await self._lost_updates(writes, conflicted)
        return conflicted

    async def _lost_updates(self, writes: list[Write], known: set[str]) -> set[str]:
        """Which guarded updates matched nothing: their events are not in the stored ``seen``."""
        pending = [w for w in writes if w.id not in known]
        stored = {i: set(r.seen) for i, r in (await self.load([w.id for w in pending])).items()}
        return {w.id for w in pending if not set(w.applied) <= stored.get(w.id, set())}

    async def clear_outbox(self, sent: list[tuple[str, int, list[dict[str, Any]]]]) -> None:
        """Drop published entries: ``(aggregate id, version written, the entries sent)``."""
        if not sent:
            return
        matched = 0
        for chunk in chunks(sent):
            result = await bulk_write(
                self.collection, [UpdateOne({"_id": i, "version": v}, {"$set": {"outbox": [], "outbox_since": None}})
                 for i, v, _ in chunk], ordered=False)
            matched += result.matched_count
        if matched == len(sent):
            return
        # Written again since: remove exactly what was sent, keep anything newer. ($pullAll
        # of whole entries: FerretDB ignores a $pull with a condition.)
        for chunk in chunks(sent):
            await bulk_write(
                self.collection, [UpdateOne({"_id": i}, {"$pullAll": {"outbox": entries}}) for i, _, entries in chunk],
                ordered=False)
        for i, _, _ in sent:
            await self.collection.update_one({"_id": i, "outbox": {"$size": 0}}, {"$set": {"outbox_since": None}})

    async def with_pending_outbox(self, before: datetime, limit: int) -> list[Record]:
        """Start-up only: on FerretDB this reads the whole collection."""
        cursor = self.collection.find({"outbox_since": {"$lte": before}}).sort("outbox_since", 1).limit(limit)
        return [Record.from_doc(d) async for d in cursor]

    async def wake(self, query: dict[str, Any], timer: str, now: datetime) -> int:
        """Arm ``timer`` at ``now`` on every aggregate matching ``query`` (a roster change, say).

        The version moves too, so a write decided from the state before is redone with it.
        """
        moment = TypeAdapter(datetime).dump_python(now, mode="json")  # states are stored as JSON
        ids = [d["_id"] async for d in self.collection.find(query, {"_id": 1})]
        await self.timers.note((i, now, now) for i in ids)
        result = await self.collection.update_many(
            {"_id": {"$in": ids}} if ids else query,
            {"$set": {f"state.timers.{timer}": moment, "due_at": now}, "$inc": {"version": 1}})
        return result.modified_count
