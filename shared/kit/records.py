"""What the kit stores per aggregate, independent of any database.

A :class:`Record` is an aggregate as read back; a :class:`Write` is its next version, to
be applied only over ``expected_version`` (optimistic concurrency). Every store port
(:mod:`shared.kit.ports`) speaks these two types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEEN_LIMIT = 2000  # event ids remembered per aggregate; far more than one case receives


def to_millis(moment: datetime) -> datetime:
    """BSON dates keep milliseconds: a time must compare equal to what is read back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Stamp:
    """Which process wrote a version, and in what order among its writes.

    A writer is one run of one workflow (a fresh id at every start); its ``seq`` grows by one
    per write. Its watermark says up to which ``seq`` every outbox it wrote went out, so
    anyone can tell whether a stored outbox still waits (see :mod:`.watermarks`).
    """

    writer: str
    seq: int


@dataclass(frozen=True)
class Hint:
    """Look at ``aggregate_id`` at ``due_at``: a timer may be due, or (``relay``: the stamp of
    the write) an outbox the publish after its write may have missed (the process died)."""

    aggregate_id: str
    due_at: datetime
    written_at: datetime
    relay: Stamp | None = None


@dataclass(frozen=True)
class DueTimer:
    """A hint come due (filed under ``bucket``)."""

    bucket: str
    aggregate_id: str
    due_at: datetime
    relay: Stamp | None = None


@dataclass
class Record:
    """An aggregate as stored."""

    id: str
    version: int
    state: dict[str, Any] | None
    seen: list[str] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    due_at: datetime | None = None
    stamp: Stamp | None = None  # None: written before stamps were kept

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Record:
        stamp = Stamp(doc["writer"], doc["seq"]) if doc.get("writer") else None
        return cls(doc["_id"], doc["version"], doc.get("state"), doc.get("seen", []), doc.get("outbox", []),
                   doc.get("due_at"), stamp)

    def as_write(self, now: datetime) -> Write:
        """This stored aggregate as the write that produced it (to publish its outbox again)."""
        return Write(self.id, self.version - 1, self.state, self.seen, self.outbox, self.due_at, now,
                     previous_due=self.due_at, stamp=self.stamp)


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
    applied: list[str] = field(default_factory=list)  # identities of the events this write records
    previous_due: datetime | None = None  # the stored due_at this write replaces
    relay_at: datetime | None = None  # when a sweep looks at an outbox the publish may have missed
    stamp: Stamp | None = None
    carried: Stamp | None = None  # the stamp of the stored version whose outbox this one re-sends

    @property
    def timer_moved(self) -> bool:
        return self.due_at is not None and to_millis(self.due_at) != self.previous_due

    @property
    def version(self) -> int:
        return self.expected_version + 1

    def hints(self) -> list[Hint]:
        """What the timer index must know before this write lands: a moved timer, a new outbox."""
        found = [Hint(self.id, self.due_at, self.now)] if self.timer_moved and self.due_at else []
        return found + ([Hint(self.id, self.relay_at, self.now, self.stamp)] if self.relay_at else [])

    def document(self) -> dict[str, Any]:
        """The stored fields after this write (``_id`` aside)."""
        return {
            "version": self.version,
            "state": self.state,
            "seen": self.seen[-SEEN_LIMIT:],
            "outbox": self.outbox,
            "due_at": self.due_at,
            "updated_at": self.now,
            "writer": self.stamp.writer if self.stamp else None,
            "seq": self.stamp.seq if self.stamp else None,
        }
