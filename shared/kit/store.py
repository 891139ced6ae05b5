"""One MongoDB document per aggregate: state, version, seen event ids, outbox, next timer.

Every change to an aggregate is a single document write guarded by its ``version``
(optimistic concurrency): FerretDB has no multi-document transactions, and none are
needed when the new state, the ids of the events that produced it and the events to
publish travel together in one document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

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

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Record:
        return cls(doc["_id"], doc["version"], doc.get("state"), doc.get("seen", []), doc.get("outbox", []))


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

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("due_at", ASCENDING)], name="due_at")
        await self.collection.create_index([("outbox_since", ASCENDING)], name="outbox_since")
        for index in self.extra_indexes:
            await self.collection.create_indexes([index])

    async def load(self, ids: list[str]) -> dict[str, Record]:
        cursor = self.collection.find({"_id": {"$in": ids}})
        return {doc["_id"]: Record.from_doc(doc) async for doc in cursor}

    async def get(self, aggregate_id: str) -> Record | None:
        doc = await self.collection.find_one({"_id": aggregate_id})
        return Record.from_doc(doc) if doc else None

    async def write(self, writes: list[Write]) -> set[str]:
        """Apply the writes; return the ids whose version moved under us (to redo)."""
        if not writes:
            return set()
        conflicted: set[str] = set()
        try:
            result = await self.collection.bulk_write([w.operation() for w in writes], ordered=False)
            matched = result.matched_count + result.inserted_count
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            conflicted = {writes[e["index"]].id for e in errors}
            matched = exc.details.get("nMatched", 0) + exc.details.get("nInserted", 0)
        if matched + len(conflicted) < len(writes):
            conflicted |= await self._lost_updates(writes, conflicted)
        return conflicted

    async def _lost_updates(self, writes: list[Write], known: set[str]) -> set[str]:
        """Which guarded updates matched nothing: their events are not in the stored ``seen``."""
        pending = [w for w in writes if w.id not in known]
        stored = {d["_id"]: set(d.get("seen", [])) async for d in
                  self.collection.find({"_id": {"$in": [w.id for w in pending]}}, {"seen": 1})}
        return {w.id for w in pending if not set(w.applied) <= stored.get(w.id, set())}

    async def clear_outbox(self, sent: list[tuple[str, int, list[dict[str, Any]]]]) -> None:
        """Drop published entries: ``(aggregate id, version written, the entries sent)``."""
        if not sent:
            return
        result = await self.collection.bulk_write(
            [UpdateOne({"_id": i, "version": v}, {"$set": {"outbox": [], "outbox_since": None}})
             for i, v, _ in sent], ordered=False)
        if result.matched_count == len(sent):
            return
        # Written again since: remove exactly what was sent, keep anything newer. ($pullAll
        # of whole entries: FerretDB ignores a $pull with a condition.)
        await self.collection.bulk_write(
            [UpdateOne({"_id": i}, {"$pullAll": {"outbox": entries}}) for i, _, entries in sent],
            ordered=False)
        await self.collection.update_many(
            {"_id": {"$in": [i for i, _, _ in sent]}, "outbox": {"$size": 0}},
            {"$set": {"outbox_since": None}})

    async def with_pending_outbox(self, before: datetime, limit: int) -> list[Record]:
        cursor = self.collection.find({"outbox_since": {"$lte": before}}).sort("outbox_since", 1).limit(limit)
        return [Record.from_doc(d) async for d in cursor]

    async def due(self, now: datetime, limit: int) -> list[Record]:
        cursor = self.collection.find({"due_at": {"$lte": now}}).sort("due_at", 1).limit(limit)
        return [Record.from_doc(d) async for d in cursor]

    async def repair_due(self, aggregate_id: str, version: int, due_at: datetime | None) -> None:
        await self.collection.update_one({"_id": aggregate_id, "version": version}, {"$set": {"due_at": due_at}})

    async def count_due(self, now: datetime) -> int:
        return await self.collection.count_documents({"due_at": {"$lte": now}})

    async def count_pending_outbox(self) -> int:
        return await self.collection.count_documents({"outbox_since": {"$gte": EPOCH}})
