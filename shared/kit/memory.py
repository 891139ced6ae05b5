"""In-memory implementations of the kit's ports, for the unit tier.

They keep the same promises as the MongoDB store and the Kafka publisher (the kit's
behaviour suite runs on both): a write over a stale version or an insert of an existing
aggregate is a conflict, unless the stored aggregate already holds the write's events; a
write a unique index refuses is refused for good; a hint is found once due. Documents are
copied in and out, so no caller ever shares one mutably.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from shared.kit.outcomes import Refused
from shared.kit.ports import RawRecord
from shared.kit.records import DueTimer, Hint, Record, Stamp, Write, to_millis

_MOMENT = TypeAdapter(datetime)


class MemoryTimerIndex:
    def __init__(self) -> None:
        self.hints: set[tuple[datetime, str, tuple[str, int] | None]] = set()

    async def note(self, hints: Iterable[Hint]) -> None:
        self.hints |= {(to_millis(h.due_at), h.aggregate_id, _pair(h.relay)) for h in hints}

    async def due(self, now: datetime, limit: int) -> list[DueTimer]:
        ordered = sorted(self.hints, key=lambda h: (h[0], h[1], h[2] or ("", 0)))
        return [DueTimer("memory", a, t, Stamp(*r) if r else None) for t, a, r in ordered if t <= now][:limit]

    async def done(self, handled: Sequence[DueTimer], now: datetime, *, complete: bool) -> None:
        self.hints -= {(t.due_at, t.aggregate_id, _pair(t.relay)) for t in handled}


def _pair(stamp: Stamp | None) -> tuple[str, int] | None:
    return (stamp.writer, stamp.seq) if stamp else None


class MemoryAggregateStore:
    """``unique``: dotted paths no two aggregates may share a value of (a unique index)."""

    def __init__(self, unique: Sequence[str] = ()) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.unique = tuple(unique)
        self.watermarks: dict[str, int] = {}
        self._timers = MemoryTimerIndex()

    @property
    def timers(self) -> MemoryTimerIndex:
        return self._timers

    async def ensure_indexes(self) -> None:
        return None

    async def load(self, ids: Sequence[str]) -> dict[str, Record]:
        return {i: Record.from_doc(copy.deepcopy(self.docs[i])) for i in dict.fromkeys(ids) if i in self.docs}

    async def write(self, writes: Sequence[Write]) -> set[str]:
        await self.timers.note(h for w in writes for h in w.hints())
        conflicted, refused = set(), False
        for write in writes:
            stored = self.docs.get(write.id)
            current = stored["version"] if stored else 0
            doc = _as_stored({"_id": write.id, **copy.deepcopy(write.document())})
            if current == write.expected_version and self._clashes(doc):
                refused = True
            elif current == write.expected_version:
                self.docs[write.id] = doc
            elif write.expected_version == 0 or not set(write.applied) <= set(stored["seen"] if stored else ()):
                conflicted.add(write.id)
        if refused:  # as an unordered bulk write: the others are applied
            raise Refused("a unique index other than the aggregate's refused the write")
        return conflicted

    async def load_watermarks(self) -> dict[str, int]:
        return dict(self.watermarks)

    async def save_watermark(self, writer: str, through: int, at: datetime) -> None:
        self.watermarks[writer] = max(through, self.watermarks.get(writer, 0))

    def _clashes(self, doc: dict[str, Any]) -> bool:
        return any(_at(doc, path) is not None and _at(other, path) == _at(doc, path)
                   for path in self.unique for other in self.docs.values() if other["_id"] != doc["_id"])

    async def wake(self, where: Mapping[str, Any], timer: str, now: datetime) -> int:
        woken = [d for d in self.docs.values() if all(_at(d, path) == value for path, value in where.items())]
        await self.timers.note(Hint(d["_id"], now, now) for d in woken)
        for doc in woken:
            doc["state"].setdefault("timers", {})[timer] = _MOMENT.dump_python(now, mode="json")
            doc["due_at"] = now
            doc["version"] += 1
        return len(woken)


def _as_stored(doc: dict[str, Any]) -> dict[str, Any]:
    """Times as a MongoDB server keeps them: to the millisecond."""
    return {k: to_millis(v) if isinstance(v, datetime) else v for k, v in doc.items()}


def _at(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


@dataclass
class RecordingPublisher:
    """Keeps what was published, in order; ``fail_next`` makes the next sends raise."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    raw: list[RawRecord] = field(default_factory=list)
    fail_next: int = 0

    async def send(self, entries: Sequence[dict[str, Any]]) -> int:
        self._maybe_fail()
        self.sent.extend(copy.deepcopy(list(entries)))
        return len(entries)

    async def send_raw(self, records: Sequence[RawRecord]) -> None:
        self._maybe_fail()
        self.raw.extend(records)

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the broker is unreachable (recording publisher told to fail)")

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [e for e in self.sent if e["topic"] == topic]


class MemoryBackend:
    """Every collection's aggregates in memory (kept per name, so a service sees its own writes)."""

    def __init__(self) -> None:
        self.stores: dict[str, MemoryAggregateStore] = {}

    def aggregates(self, collection: str, indexes: Sequence[Any] = ()) -> MemoryAggregateStore:
        """``indexes`` as for MongoDB (``pymongo.IndexModel``): the unique ones are kept."""
        unique = [path for index in indexes if index.document.get("unique") for path in index.document["key"]]
        return self.stores.setdefault(collection, MemoryAggregateStore(unique))
