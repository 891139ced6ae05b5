"""What a workflow wrote last, kept in memory: don't read what you own.

A partition's aggregates are written by the one process that owns it, so the version it
wrote last is, almost always, still the stored one. Each workflow keeps the records it
read or wrote (least recently used dropped first); an aggregate it has never seen is taken
to be new and simply inserted. Every write stays guarded by its version: a stale entry (an
aggregate another process changed, one that existed before this run) costs one conflict
round, which reads it afresh — never a wrong write. The entries are records (JSON state),
never shared model instances, so no caller can change one in place.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from shared.kit.records import SEEN_LIMIT, Record, Write

CACHE_SIZE = 20_000


class RecordCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._records: OrderedDict[str, Record] = OrderedDict()

    def get(self, aggregate_id: str) -> Record | None:
        record = self._records.get(aggregate_id)
        if record is not None:
            self._records.move_to_end(aggregate_id)
        return record

    def put(self, record: Record) -> None:
        self._records[record.id] = record
        self._records.move_to_end(record.id)
        while len(self._records) > self.size:
            self._records.popitem(last=False)

    def wrote(self, write: Write) -> None:
        self.put(Record(write.id, write.version, write.state, write.seen[-SEEN_LIMIT:], write.outbox,
                        write.due_at, write.stamp))

    def forget(self, ids: Iterable[str]) -> None:
        for aggregate_id in ids:
            self._records.pop(aggregate_id, None)

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
