"""The kit's ports: what a workflow needs from a database and from a broker.

Each port has two implementations that keep the same promises — the real one
(:mod:`shared.kit.store`, :mod:`shared.kit.timers` on MongoDB/FerretDB;
:class:`shared.kit.outbox.KafkaPublisher`) and an in-memory one (:mod:`shared.kit.memory`)
for the unit tier. One behaviour suite runs on both (``tests/kit``), so the fakes cannot
drift from what they stand in for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.kit.records import DueTimer, Hint, Record, Write


class TimerIndex(Protocol):
    """Where each aggregate's next timer falls, so a sweep costs what is due, not what exists.

    An entry is a hint: the aggregate's own state says whether its timer is really due, and
    whether its outbox still waits.
    """

    async def note(self, hints: Iterable[Hint]) -> None:
        """Record these hints (idempotent); one filed already due is still found."""

    async def due(self, now: datetime, limit: int) -> list[DueTimer]:
        """Hints due by ``now``, oldest first, at most ``limit``."""

    async def done(self, handled: Sequence[DueTimer], now: datetime, *, complete: bool) -> None:
        """Forget handled hints; ``complete``: everything due by ``now`` was handled."""


class Loads(Protocol):
    """What a reader outside a workflow needs of its aggregates."""

    async def load(self, ids: Sequence[str]) -> dict[str, Record]:
        """The stored aggregates among ``ids`` (missing ones are absent)."""


class AggregateStore(Protocol):
    """One document per aggregate: state, version, seen event ids, outbox, next timer."""

    @property
    def timers(self) -> TimerIndex: ...

    async def ensure_indexes(self) -> None: ...

    async def load(self, ids: Sequence[str]) -> dict[str, Record]:
        """The stored aggregates among ``ids`` (missing ones are absent)."""

    async def write(self, writes: Sequence[Write]) -> set[str]:
        """Apply each write over its expected version; return the ids to decide again.

        Its timers and relay hints are noted first, so none is ever missing from the index.
        A write the database refuses for good (a unique index on another field, a document
        too large) raises :class:`shared.kit.outcomes.Refused`.
        """

    async def load_watermarks(self) -> dict[str, int]:
        """Every writer's watermark: up to which ``seq`` its outboxes are known to be out."""

    async def save_watermark(self, writer: str, through: int, at: datetime) -> None:
        """Raise ``writer``'s watermark to ``through`` (never lowers it)."""

    async def wake(self, where: Mapping[str, Any], timer: str, now: datetime) -> int:
        """Arm ``timer`` at ``now`` on every aggregate whose fields equal ``where``
        (dotted paths, e.g. ``{"state.status": "unassigned"}``); return how many."""


class Publisher(Protocol):
    """Sends outbox entries (``shared.kit.outbox.entry``) and raw records (dead letters)."""

    async def send(self, entries: Sequence[dict[str, Any]]) -> int:
        """Publish every entry and wait until the broker has them all; return how many."""

    async def send_raw(self, records: Sequence[RawRecord]) -> None:
        """Publish records as they came (physical topic names) and wait for the broker."""


@dataclass(frozen=True)
class RawRecord:
    topic: str  # the physical topic name
    value: bytes
    key: bytes | None
    headers: Mapping[str, str]


class Backend(Protocol):
    """Where a service's aggregates live."""

    def aggregates(self, collection: str, indexes: Sequence[Any] = ()) -> AggregateStore: ...
