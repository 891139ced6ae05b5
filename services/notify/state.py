"""A notification as stored: its deliveries, the delivery policy, and the ids derived from it.

One line of ``deliveries`` is one recipient on one channel: the delivery log kept per
(notification id, recipient, channel) with its status, attempts and last error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from shared.cloudevents import derived_id
from shared.contracts.notifications import Channel
from shared.kit import Inbound
from shared.settings import NotifySettings

from .audience import Contact
from .kinds import Facts, Kind

ATTEMPTED = "casework.notify.delivery_attempted"  # internal: never on a topic


class Status(StrEnum):
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"


class Delivery(BaseModel):
    """One line of the delivery log: a recipient on one channel."""

    key: str  # unique in the notification; hashed into the Message-ID and Idempotency-Key
    recipient_id: str
    role: str
    channel: Channel
    address: str | None = None
    kind: Kind  # the notification's, or notification_failed for an alert about ``about``
    about: int | None = None
    status: Status = Status.SENDING
    attempts: int = 0
    claimed_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None


class Notification(BaseModel):
    id: str
    kind: Kind
    reference: str
    case_id: str | None = None
    region: str | None = None
    agency_id: str | None = None
    restricted: bool = False
    deadline: datetime | None = None
    facts: Facts = {}
    created_at: datetime
    fallback: list[Contact] = []
    deliveries: list[Delivery] = []
    timers: dict[str, datetime] = {}


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 6
    retry_base: float = 5.0
    retry_max: float = 600.0
    lease: float = 60.0  # how long a claimed attempt may take before it counts as failed

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> Policy:
        delivery = settings.delivery
        return cls(delivery.max_attempts, delivery.retry_base_seconds, delivery.retry_max_seconds,
                   delivery.lease_seconds)


@dataclass(frozen=True)
class DeliveryAttempted:
    """What the sender saw on one attempt, fed back through ``decide``."""

    notification_id: str
    index: int
    attempt: int
    ok: bool
    error: str | None = None
    permanent: bool = False  # a refusal that retrying cannot cure (a 4xx, a 5xx SMTP reply)
    released: bool = False  # not attempted at all: the sender was too busy to start it in time
    claimed_at: datetime | None = None  # which claim this answers (a released attempt is claimed again)

    def inbound(self) -> Inbound:
        claim = self.claimed_at.isoformat() if self.claimed_at else ""
        event_id = derived_id(f"{self.notification_id}/{self.index}/{self.attempt}/{claim}",
                              "released" if self.released else "attempted")
        return Inbound(id=event_id, type=ATTEMPTED, data=self, subject=self.notification_id)


def notification_id(cause: Inbound) -> str:
    """Fixed by the event it answers, by that event's source and id (``Inbound.identity``)."""
    return derived_id(cause.identity, "notification")


def aggregate_of(event: Inbound) -> str:
    if isinstance(event.data, DeliveryAttempted):
        return event.data.notification_id
    return notification_id(event)


def recipient_hash(delivery_key: str) -> str:
    return hashlib.sha256(delivery_key.encode()).hexdigest()[:16]


def one_line(text: str) -> str:
    """An error as one short line (SMTP replies span lines; events take single-line text)."""
    return " ".join(text.split())[:500] or "failed"


def backoff(notification: str, index: int, attempt: int, policy: Policy) -> timedelta:
    """Exponential, capped, with "equal jitter" fixed by the delivery (decide stays pure)."""
    ceiling = min(policy.retry_max, policy.retry_base * 2 ** (attempt - 1))
    digest = hashlib.sha256(f"{notification}/{index}/{attempt}".encode()).digest()
    return timedelta(seconds=ceiling * (0.5 + int.from_bytes(digest[:8]) / 2**65))


def claims(before: Notification | None, after: Notification | None) -> list[int]:
    """The deliveries a write has just claimed: the sender sends exactly these, once."""
    if after is None:
        return []
    old = before.deliveries if before else []
    return [i for i, d in enumerate(after.deliveries) if d.status is Status.SENDING
            and (i >= len(old) or old[i].status is not Status.SENDING or old[i].attempts != d.attempts)]
