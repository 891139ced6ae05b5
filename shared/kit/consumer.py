"""Batch subscribers: read CloudEvents, dead-letter bad input, retry what is transient.

The offset is committed by FastStream (``AckPolicy.NACK_ON_ERROR``) only after the
handler returns, that is after the documents are written, the outbox is published and
the dead letters are acknowledged by the broker. A transient failure (database or
broker) is retried here with backoff while the batch is held, so the partition keeps its
order; if it persists the batch is nacked and read again. A message that can never be
processed goes to ``<topic>.dlq`` unchanged with the ``x-dlq-*`` headers, and the
consumer goes on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import ValidationError, WithJsonSchema
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared import logging as caselog
from shared.cloudevents import derived_id, encode, new_event
from shared.contracts.common import Payload
from shared.errors import InvalidEvent, describe, kind
from shared.kafka import headers_of
from shared.kit.clock import Clock
from shared.kit.inbound import Inbound, Skip, TopicReader
from shared.kit.metrics import METRICS
from shared.kit.outbox import entry
from shared.kit.outcomes import ConcurrencyConflict, Poison
from shared.kit.ports import Publisher, RawRecord
from shared.retry import retrying
from shared.topics import dlq

log = caselog.get_logger("casework.kit")

Handler = Callable[[list[Inbound]], Awaitable[list[Poison]]]
# Builds the alerts an unreadable message must raise (an encounter: a person may be waiting).
OnInvalid = Callable[[ConsumerRecord, BaseException], Sequence[Payload]]

TRANSIENT_RETRIES = 5
BACKOFF_SECONDS = 0.2


class Permanent(Exception):
    """A batch that fails for a reason that retrying will not cure."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return False
    return isinstance(exc, PyMongoError | KafkaError | OSError | TimeoutError | ConcurrencyConflict)


@dataclass(frozen=True)
class DeadLetters:
    """Where a service's unreadable records go: ``<topic>.dlq``, and the alerts they call for."""

    service: str
    publisher: Publisher
    physical: Callable[[str], str]  # contract topic name -> the deployment's topic
    source: str  # the CloudEvent source of the alerts
    clock: Clock

    async def send(self, topic: str, dead: Sequence[tuple[ConsumerRecord, BaseException]],
                   on_invalid: OnInvalid | None) -> None:
        if not dead:
            return
        records = [RawRecord(self.physical(dlq(topic)), record.value or b"", record.key, dlq_headers(record, exc))
                   for record, exc in dead]
        for record, exc in dead:
            METRICS.dead_lettered.labels(self.service, topic, kind(exc)).inc()
            log.error("dead-lettered", service=self.service, topic=topic,
                      source=f"{record.topic}/{record.partition}/{record.offset}",
                      error_type=kind(exc), error=describe(exc))
        await self.publisher.send_raw(records)
        if on_invalid is not None:
            await self.publisher.send(self._alerts([(r, a) for r, exc in dead for a in on_invalid(r, exc)]))

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

    async def __call__(self, records: Sequence[ConsumerRecord]) -> None:
        started = time.perf_counter()
        topic = self.reader.topic
        events, dead = self._read(records)
        at = {(r.partition, r.offset): r for r in records}
        dead += [(at[(p.event.partition, p.event.offset)], p.error) for p in await self._handle(events)]
        await self.dead_letters.send(topic, dead, self.on_invalid)
        METRICS.handled.labels(self.service, topic).inc(len(records))
        METRICS.batch_size.labels(self.service, topic).observe(len(records))
        METRICS.latency.labels(self.service, topic).observe(time.perf_counter() - started)

    def _read(self, records: Sequence[ConsumerRecord]
              ) -> tuple[list[Inbound], list[tuple[ConsumerRecord, BaseException]]]:
        events: list[Inbound] = []
        dead: list[tuple[ConsumerRecord, BaseException]] = []
        for record in records:
            try:
                events.append(self.reader.read(record))
            except Skip:
                METRICS.skipped.labels(self.service, self.reader.topic).inc()
            except (ValidationError, InvalidEvent, ValueError, RecursionError) as exc:
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
                                  base_seconds=BACKOFF_SECONDS, transient=is_transient, on_transient=failed)
        except Exception as exc:
            if is_transient(exc):
                raise  # nack: the batch is read again, nothing is committed
            raise Permanent(describe(exc)) from exc


def dlq_headers(record: ConsumerRecord, exc: BaseException, attempts: int = 1) -> dict[str, str]:
    headers = headers_of(record)
    error = describe(exc)
    if record.value is None:
        error = f"{error} (the original record had no value)"
    return headers | {
        "x-dlq-error-type": kind(exc),
        "x-dlq-error": error,
        "x-dlq-source": f"{record.topic}/{record.partition}/{record.offset}",
        "x-dlq-attempts": str(attempts),
    }


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
