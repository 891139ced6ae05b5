"""Which stored outboxes are known to be out, without a second write per aggregate.

A write leaves its events in the aggregate's ``outbox`` and its :class:`Stamp` (this run's
writer id and a sequence number) beside them. Once the broker took them, nothing is written
back to the aggregate; instead each writer keeps a watermark — every write up to this
``seq`` is published — in memory at once and in the database about once a second and when
it stops. Whoever later reads the aggregate (the next write, a relay sweep, another
instance, the next run) compares the stamp with its writer's watermark: covered, the
entries are done; not covered, they are published again. A crash therefore re-sends at most
the writes of its last second, never loses one; consumers drop the repeats by event id.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import datetime

from shared.kit.ports import AggregateStore
from shared.kit.records import Stamp

RELAYED_LIMIT = 100_000


class Watermarks:
    def __init__(self, service: str) -> None:
        self.writer = f"{service}-{uuid.uuid4().hex[:12]}"
        self.issued = 0
        self.open: set[int] = set()  # issued, not yet known to be out
        self.saved = 0
        self.others: dict[str, int] = {}
        self.relayed: OrderedDict[Stamp, None] = OrderedDict()  # other writers' outboxes this run sent

    def stamp(self, *, waits: bool) -> Stamp:
        """The next write's stamp; ``waits``: it has an outbox to publish."""
        self.issued += 1
        if waits:
            self.open.add(self.issued)
        return Stamp(self.writer, self.issued)

    def settled(self, stamps: list[Stamp | None]) -> None:
        """Nothing waits on these any more: published, never written (a conflict), or replaced
        by a later write that carried their entries along."""
        for stamp in stamps:
            if stamp is None:
                continue
            if stamp.writer == self.writer:
                self.open.discard(stamp.seq)
            else:
                self.relayed[stamp] = None
                if len(self.relayed) > RELAYED_LIMIT:  # forgetting costs a harmless re-send
                    self.relayed.popitem(last=False)

    @property
    def through(self) -> int:
        return min(self.open) - 1 if self.open else self.issued

    def covers(self, stamp: Stamp | None) -> bool:
        if stamp is None:
            return False
        if stamp in self.relayed:
            return True
        through = self.through if stamp.writer == self.writer else self.others.get(stamp.writer, 0)
        return stamp.seq <= through

    async def load(self, store: AggregateStore) -> None:
        self.others = {w: t for w, t in (await store.load_watermarks()).items() if w != self.writer}

    async def save(self, store: AggregateStore, now: datetime) -> None:
        through = self.through
        if through > self.saved:
            await store.save_watermark(self.writer, through, now)
            self.saved = through
