"""Batch subscribers: read CloudEvents, dead-letter bad input, retry what is transient.

The offset is committed by FastStream (``AckPolicy.NACK_ON_ERROR``) only after the
handler returns, that is after the documents are written, the outbox is published and
the dead letters are acknowledged by the broker. Every record ends in one of three ways,
and nothing can keep it from one of them (docs/design.md, "Retries and dead letters"):

* **processed** — decided, written, published;
* **dead-lettered** — unchanged on ``<topic>.dlq`` with the ``x-dlq-*`` headers: at once
  when it cannot be read or decided, or after ``max_attempts`` deliveries of its offset
  failed for a reason of its own (:mod:`.failures`); when the broker will not take a copy,
  a reference to it (topic, partition, offset, size, digest) goes instead;
* **held** — while the broker or the database is away: the batch is retried with backoff
  in place, then nacked after a pause and read again, the service reports not-ready, and
  no healthy record is dead-lettered for the infrastructure's trouble.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from pydantic import WithJsonSchema

from shared import logging as caselog
from shared.cloudevents import derived_id, encode, new_event
from shared.contracts.common import Payload
from shared.errors import describe, kind
from shared.kafka import headers_of
from shared.kit.clock import Clock
from shared.kit.failures import RECORD_REFUSED, is_transient
from shared.kit.health import Health
from shared.kit.inbound import Inbound, Skip, TopicReader
from shared.kit.metrics import METRICS
from shared.kit.outbox import entry
from shared.kit.outcomes import Poison
from shared.kit.ports import Publisher, RawRecord
from shared.retry import retrying
from shared.topics import DLQ_HEADROOM, MAX_MESSAGE_BYTES, dlq

log = caselog.get_logger("casework.kit")

Handler = Callable[[list[Inbound]], Awaitable[list[Poison]]]
# Builds the alerts an unreadable message must raise (an encounter: a person may be waiting).
OnInvalid = Callable[[ConsumerRecord, BaseException], Sequence[Payload]]
Dead = tuple[ConsumerRecord, BaseException]

TRANSIENT_RETRIES = 5
BACKOFF_SECONDS = 0.2
DLQ_LIMIT = MAX_MESSAGE_BYTES + DLQ_HEADROOM  # what a dead-letter topic takes


class Permanent(Exception):
    """A batch that fails for a reason that retrying will not cure."""


class Unreadable(Exception):
    """Stands in for an error whose own description could not be built."""


@dataclass(frozen=True)
class DeadLetters:
    """Where a service's unreadable records go: ``<topic>.dlq``, and the alerts they call for.

    Building a dead letter or an alert never raises: a description that cannot be made
    falls back to the error's type, an alert that cannot be built to a minimal one, a
    record the broker refuses to take again to a reference. Only the broker being away
    raises (the batch is then held and read again).
    """

    service: str
    publisher: Publisher
    physical: Callable[[str], str]  # contract topic name -> the deployment's topic
    source: str  # the CloudEvent source of the alerts
    clock: Clock

    async def send(self, topic: str, dead: Sequence[Dead], on_invalid: OnInvalid | None, attempts: int = 1) -> None:
        if not dead:
            return
        for record, exc in dead:
            METRICS.dead_lettered.labels(self.service, topic, kind(exc)).inc()
            log.error("dead-lettered", service=self.service, topic=topic,
                      source=f"{record.topic}/{record.partition}/{record.offset}",
                      error_type=kind(exc), error=describe(exc), attempts=attempts)
        await self._publish([self.letter(topic, record, exc, attempts) for record, exc in dead])
        if on_invalid is not None:
            alerts = [(record, alert) for record, exc in dead for alert in self._built(on_invalid, record, exc)]
            await self.publisher.send(self._alerts(alerts))

    async def set_aside(self, topic: str, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        """The last resort for a record that failed ``attempts`` deliveries: its dead letter,
        or, should even that be refused for a reason of its own, a reference to it."""
        try:
            await self.send(topic, [(record, exc)], None, attempts)
        except Exception as failed:
            if is_transient(failed):
                raise
            await self.publisher.send_raw([reference(self.letter(topic, record, exc, attempts))])

    async def undecodable(self, topic: str, physical: str, partition: int, offset: int) -> None:
        """A record the Kafka client cannot decode (a header name that is not UTF-8): a reference."""
        source = f"{physical}/{partition}/{offset}"
        METRICS.dead_lettered.labels(self.service, topic, "UndecodableRecord").inc()
        log.error("dead-lettered", service=self.service, topic=topic, source=source,
                  error_type="UndecodableRecord", attempts=1)
        body = {"dead_letter": "reference", "source": source}
        await self.publisher.send_raw([RawRecord(self.physical(dlq(topic)), json.dumps(body).encode(), None, {
            "x-dlq-error-type": "UndecodableRecord",
            "x-dlq-error": "the Kafka client cannot decode the record (a header name is not UTF-8)",
            "x-dlq-source": source, "x-dlq-attempts": "1", "x-dlq-reference": "true"})])

    def letter(self, topic: str, record: ConsumerRecord, exc: BaseException, attempts: int = 1) -> RawRecord:
        letter = RawRecord(self.physical(dlq(topic)), record.value or b"", record.key,
                           dlq_headers(record, exc, attempts))
        size = len(letter.value) + sum(len(k) + len(v) for k, v in letter.headers.items())
        return reference(letter) if size > DLQ_LIMIT else letter

    async def _publish(self, letters: list[RawRecord]) -> None:
        try:
            await self.publisher.send_raw(letters)
        except RECORD_REFUSED:  # a dead-letter topic created before its headroom, say
            for letter in letters:
                try:
                    await self.publisher.send_raw([letter])
                except RECORD_REFUSED:
                    await self.publisher.send_raw([reference(letter)])

    def _built(self, on_invalid: OnInvalid, record: ConsumerRecord, exc: BaseException) -> Sequence[Payload]:
        for error in (exc, Unreadable()):
            try:
                return on_invalid(record, error)
            except Exception as failed:
                log.error("alert could not be built", service=self.service, error_type=type(failed).__name__)
        return ()

    def _alerts(self, alerts: list[tuple[ConsumerRecord, Payload]]) -> list[dict[str, Any]]:
        entries = []
        per_record: dict[tuple[str, int, int], int] = {}
        for record, payload in alerts:
            # numbered within the record, not the batch: a redelivery in another batch gives the same id
            source = (record.topic, record.partition, record.offset)
            index = per_record[source] = per_record.get(source, -1) + 1
            event_id = derived_id("/".join(map(str, source)), index, by=self.service)
            event = new_event(payload, event_id=event_id, source=self.source, time=self.clock.now())
            entries.append(entry(event_id, payload.TOPIC, payload.subject, encode(event), event_id, payload.TYPE))
        return entries


@dataclass(frozen=True)
class BatchConsumer:
    """Everything between a batch of records and a commit, for one topic of one service."""

    service: str
    reader: TopicReader
    handler: Handler
    dead_letters: DeadLetters
    on_invalid: OnInvalid | None = None
    health: Health = field(default_factory=Health)
    max_attempts: int = 5
    attempts: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)  # (partition, offset) -> n
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep  # the waits of backoff and pauses

    async def __call__(self, records: Sequence[ConsumerRecord]) -> None:
        started = time.perf_counter()
        topic = self.reader.topic
        try:
            await self._consume(records)
        except Exception as exc:
            await self._failed(records, exc)  # raises to have the batch read again, or sets it aside
        self.health.consuming(topic)
        self._forget(records)
        METRICS.handled.labels(self.service, topic).inc(len(records))
        METRICS.batch_size.labels(self.service, topic).observe(len(records))
        METRICS.latency.labels(self.service, topic).observe(time.perf_counter() - started)

    async def _consume(self, records: Sequence[ConsumerRecord]) -> None:
        events, dead = self._read(records)
        at = {(r.partition, r.offset): r for r in records}
        dead += [(at[(p.event.partition, p.event.offset)], p.error) for p in await self._handle(events)]
        await self.dead_letters.send(self.reader.topic, dead, self.on_invalid)

    async def _failed(self, records: Sequence[ConsumerRecord], exc: BaseException) -> None:
        """The floor under every failure: hold for the infrastructure, bound the rest."""
        if is_transient(exc):
            pause = self.health.failing(self.reader.topic, exc)
            log.warning("infrastructure unavailable: holding the partition", service=self.service,
                        topic=self.reader.topic, error=describe(exc), pause_seconds=pause)
            await self.sleep(pause)
            raise exc  # nack: read again from the first offset of the batch
        counts = [self._delivered(r) for r in records]
        log.error("batch failed", service=self.service, topic=self.reader.topic, error_type=kind(exc),
                  error=describe(exc), delivery=max(counts), max_attempts=self.max_attempts)
        if max(counts) < self.max_attempts:
            raise exc
        await self._bounded_out(records)

    async def _bounded_out(self, records: Sequence[ConsumerRecord]) -> None:
        """Delivered ``max_attempts`` times: one record at a time, the ones that still fail aside."""
        for record in records:
            try:
                await self._consume([record])
            except Exception as exc:
                if is_transient(exc):
                    raise
                METRICS.bounded_out.labels(self.service, self.reader.topic).inc()
                await self.dead_letters.set_aside(self.reader.topic, record, exc, self.max_attempts)

    def _delivered(self, record: ConsumerRecord) -> int:
        key = (record.partition, record.offset)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    def _forget(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            self.attempts.pop((record.partition, record.offset), None)

    def _read(self, records: Sequence[ConsumerRecord]) -> tuple[list[Inbound], list[Dead]]:
        events: list[Inbound] = []
        dead: list[Dead] = []
        for record in records:
            try:
                events.append(self.reader.read(record))
            except Skip:
                METRICS.skipped.labels(self.service, self.reader.topic).inc()
            except Exception as exc:  # whatever reading raises is about this record
                dead.append((record, exc))
        return events, dead

    async def _handle(self, events: list[Inbound]) -> list[Poison]:
        if not events:
            return []
        try:
            poisons = await self._retrying(events)
        except Permanent:
            # Something in this batch breaks the handler itself: isolate it event by event.
            poisons = []
            for event in events:
                try:
                    poisons += await self._retrying([event])
                except Permanent as exc:
                    poisons.append(Poison(event, exc.__cause__ or exc))
        return poisons

    async def _retrying(self, events: list[Inbound]) -> list[Poison]:
        def failed(attempt: int, exc: Exception) -> None:
            METRICS.failed.labels(self.service, self.reader.topic, type(exc).__name__).inc()
            log.warning("transient failure, retrying", service=self.service,
                        topic=self.reader.topic, attempt=attempt, error=describe(exc))

        try:
            return await retrying(partial(self.handler, events), attempts=TRANSIENT_RETRIES,
                                  base_seconds=BACKOFF_SECONDS, transient=is_transient, on_transient=failed,
                                  sleep=self.sleep)
        except Exception as exc:
            if is_transient(exc):
                raise  # held: the infrastructure is away
            raise Permanent(describe(exc)) from exc


def dlq_headers(record: ConsumerRecord, exc: BaseException, attempts: int = 1) -> dict[str, str]:
    try:
        error, error_type = describe(exc), kind(exc)
    except Exception:  # a description must never stop a dead letter
        error, error_type = "the error could not be described", "Unreadable"
    if record.value is None:
        error = f"{error} (the original record had no value)"
    return _original_headers(record) | {
        "x-dlq-error-type": error_type,
        "x-dlq-error": error,
        "x-dlq-source": f"{record.topic}/{record.partition}/{record.offset}",
        "x-dlq-attempts": str(attempts),
    }


def _original_headers(record: ConsumerRecord) -> dict[str, str]:
    try:
        # Ours are x-dlq-*: a producer's own, however spelled, is not copied as if it were ours.
        return {k: v for k, v in headers_of(record).items() if not k.lower().startswith("x-dlq-")}
    except Exception:
        return {}


def reference(letter: RawRecord) -> RawRecord:
    """A dead letter that points at the original instead of copying it (the copy is too large)."""
    kept = {k: v for k, v in letter.headers.items() if k.startswith("x-dlq-")}
    body = {"dead_letter": "reference", "source": kept.get("x-dlq-source", ""), "bytes": len(letter.value),
            "sha256": hashlib.sha256(letter.value).hexdigest()}
    return RawRecord(letter.topic, json.dumps(body).encode(), letter.key, kept | {"x-dlq-reference": "true"})


async def raw_records(message: Any) -> tuple[ConsumerRecord, ...]:
    """Decoder: hand the handler the records themselves; each is validated on its own.

    A batch arrives as a tuple from aiokafka, as a list from FastStream's test broker."""
    raw = message.raw_message
    return tuple(raw) if isinstance(raw, tuple | list) else (raw,)


def documented(reader: TopicReader) -> Any:
    """The handler's parameter type: raw records, documented in AsyncAPI as the contract."""
    schema = reader.adapter().json_schema()
    return Annotated[list[Any], WithJsonSchema(_inline(schema, schema.pop("$defs", {})))]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve ``#/$defs/..`` references in place (contracts are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs) | {
                k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node
