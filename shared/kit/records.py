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

    def as_write(self, now: datetime) -> Write:
        """This stored aggregate as the write that produced it (to publish its outbox again)."""
        return Write(self.id, self.version - 1, self.state, self.seen, self.outbox, self.due_at, now,
                     previous_due=self.due_at)


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
        """The stored fields after this write (``_id`` aside)."""
        return {
            "version": self.version,
            "state": self.state,
            "seen": self.seen[-SEEN_LIMIT:],
            "outbox": self.outbox,
            "due_at": self.due_at,
            "outbox_since": self.now if self.outbox else None,
            "updated_at": self.now,
        }
