"""Turning Kafka records into events ``decide`` can take, or into a reason to dead-letter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import TypeAdapter, ValidationError

from shared.cloudevents import CloudEvent, derived_id, identity, reader
from shared.contracts.common import Payload
from shared.errors import InvalidEvent
from shared.kafka import correlation, headers_of

TIMER_TYPE = "casework.timer.fired"


@dataclass(frozen=True)
class TimerFired:
    """A durable timer came due (docs/design.md, Durable timers): fed through ``decide`` like any event."""

    name: str
    due_at: datetime


@dataclass(frozen=True)
class Inbound:
    """One event as the kit hands it to a handler."""

    id: str
    type: str
    data: Any  # a Payload, a TimerFired, or None for a tombstone on a compacted topic
    subject: str | None = None
    source: str = ""
    time: datetime | None = None
    correlation_id: str | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    key: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def identity(self) -> str:
        """The event's ``(source, id)`` as one id: what ``seen`` lists and derived ids use."""
        return identity(self.source, self.id)

    @classmethod
    def timer(cls, aggregate_id: str, name: str, due_at: datetime) -> Inbound:
        event_id = derived_id(f"{aggregate_id}/{name}/{due_at.isoformat()}", "timer")
        return cls(id=event_id, type=TIMER_TYPE, data=TimerFired(name, due_at), subject=aggregate_id)

    @property
    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


class Skip(Exception):
    """A valid event of a type this consumer does not handle (internal topics only)."""


@dataclass(frozen=True)
class TopicReader:
    """How one topic's records are read: which payload types, and what else is allowed."""

    topic: str  # the contract name, without any deployment prefix
    payloads: tuple[type[Payload], ...]
    strict_types: bool  # an unexpected type is invalid (inbound) rather than skipped
    tombstones: bool = False
    max_bytes: int = 256 * 1024

    @property
    def types(self) -> frozenset[str]:
        return frozenset(p.TYPE for p in self.payloads)

    def adapter(self) -> TypeAdapter[Any]:
        return reader(*self.payloads)

    def read(self, record: ConsumerRecord) -> Inbound:
        key = record.key.decode(errors="replace") if record.key is not None else None
        headers = headers_of(record)
        if record.value is None:
            if self.tombstones and key:
                return Inbound(id=f"tombstone/{record.topic}/{record.partition}/{record.offset}",
                               type="tombstone", data=None, subject=key, topic=self.topic,
                               partition=record.partition, offset=record.offset, key=key)
            raise InvalidEvent("EmptyMessage", "the message has no value")
        if len(record.value) > self.max_bytes:
            raise InvalidEvent("PayloadTooLarge",
                               f"{len(record.value)} bytes is over the {self.max_bytes}-byte limit")
        event = self._validate(record.value)
        return Inbound(
            id=event.id, type=event.type, data=event.data, subject=event.subject,
            source=event.source, time=event.time,
            # logged with every line: only an identifier, never whatever a header or attribute held
            correlation_id=correlation(event.correlationid, headers.get("correlation_id"), event.id)
            or identity(event.source, event.id),
            topic=self.topic, partition=record.partition, offset=record.offset, key=key,
            extensions=dict(event.model_extra or {}),
        )

    def _validate(self, value: bytes) -> CloudEvent:
        try:
            return self.adapter().validate_json(value)  # type: ignore[no-any-return]  # a TypeAdapter of a union of CloudEvent types is Any to mypy
        except ValidationError as exc:
            if self._is_other_type(exc, value):
                raise Skip from None
            raise

    def _is_other_type(self, exc: ValidationError, value: bytes) -> bool:
        """A well-formed event of a type not handled here, on an internal topic."""
        if self.strict_types:
            return False
        try:
            envelope = CloudEvent.model_validate_json(value)
        except ValidationError:
            return False
        return envelope.type not in self.types and envelope.type.startswith("casework.")
