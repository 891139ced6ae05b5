"""In-memory implementations of the kit's ports, for the unit tier.

They keep the same promises as the MongoDB store and the Kafka publisher (the kit's
behaviour suite runs on both): a write over a stale version or an insert of an existing
aggregate is a conflict, unless the stored aggregate already holds the write's events;
a cleared outbox keeps what was added after the entries sent; a timer is a hint found
once due. Documents are copied in and out, so no caller ever shares one mutably.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from shared.kit.ports import DueTimer, RawRecord
from shared.kit.records import Record, Write, to_millis

_MOMENT = TypeAdapter(datetime)


class MemoryTimerIndex:
    def __init__(self) -> None:
        self.hints: set[tuple[datetime, str]] = set()

    async def note(self, timers: Iterable[tuple[str, datetime, datetime]]) -> None:
        self.hints |= {(to_millis(at), aggregate_id) for aggregate_id, at, _ in timers}

    async def due(self, now: datetime, limit: int) -> list[DueTimer]:
        return [DueTimer("memory", a, t) for t, a in sorted(self.hints) if t <= now][:limit]

    async def done(self, handled: Sequence[DueTimer], now: datetime, *, complete: bool) -> None:
        self.hints -= {(t.due_at, t.aggregate_id) for t in handled}


class MemoryAggregateStore:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self._timers = MemoryTimerIndex()

    @property
    def timers(self) -> MemoryTimerIndex:
        return self._timers

    async def ensure_indexes(self) -> None:
        return None

    async def load(self, ids: Sequence[str]) -> dict[str, Record]:
        return {i: Record.from_doc(copy.deepcopy(self.docs[i])) for i in dict.fromkeys(ids) if i in self.docs}

    async def write(self, writes: Sequence[Write]) -> set[str]:
        await self.timers.note((w.id, w.due_at, w.now) for w in writes if w.timer_moved and w.due_at)
        conflicted = set()
        for write in writes:
            stored = self.docs.get(write.id)
            current = stored["version"] if stored else 0
            if current == write.expected_version:
                self.docs[write.id] = _as_stored({"_id": write.id, **copy.deepcopy(write.document())})
            elif write.expected_version == 0 or not set(write.applied) <= set(stored["seen"] if stored else ()):
                conflicted.add(write.id)
        return conflicted

    async def clear_outbox(self, sent: Sequence[Write]) -> None:
        for write in sent:
            doc = self.docs.get(write.id)
            if doc is None:
                continue
            if doc["version"] != write.version:  # written again since: keep what is newer
                doc["outbox"] = [e for e in doc["outbox"] if e not in write.outbox]
            else:
                doc["outbox"] = []
            if not doc["outbox"]:
                doc["outbox_since"] = None

    async def with_pending_outbox(self, before: datetime, limit: int) -> list[Record]:
        pending = sorted((d for d in self.docs.values() if d.get("outbox_since") and d["outbox_since"] <= before),
                         key=lambda d: d["outbox_since"])
        return [Record.from_doc(copy.deepcopy(d)) for d in pending[:limit]]

    async def wake(self, where: Mapping[str, Any], timer: str, now: datetime) -> int:
        woken = [d for d in self.docs.values() if all(_at(d, path) == value for path, value in where.items())]
        await self.timers.note((d["_id"], now, now) for d in woken)
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
        return self.stores.setdefault(collection, MemoryAggregateStore())
