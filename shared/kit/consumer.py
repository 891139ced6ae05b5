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

import asyncio
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
from shared.kit.inbound import Inbound, Skip, TopicReader
from shared.kit.metrics import METRICS
from shared.kit.outbox import entry
from shared.kit.workflow import ConcurrencyConflict, Poison
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


@dataclass
class BatchConsumer:
    """Everything between a batch of records and a commit, for one topic of one service."""

    service: Any  # shared.kit.service.Service (kept loose to avoid an import cycle)
    reader: TopicReader
    handler: Handler
    on_invalid: OnInvalid | None = None

    async def __call__(self, records: Sequence[ConsumerRecord]) -> None:
        started = time.perf_counter()
        topic = self.reader.topic
        events, dead = self._read(records)
        at = {(r.partition, r.offset): r for r in records}
        dead += [(at[(p.event.partition, p.event.offset)], p.error) for p in await self._handle(events)]
        await self._dead_letter(dead)
        METRICS.handled.labels(self.service.name, topic).inc(len(records))
        METRICS.batch_size.labels(self.service.name, topic).observe(len(records))
        METRICS.latency.labels(self.service.name, topic).observe(time.perf_counter() - started)

    def _read(self, records: Sequence[ConsumerRecord]
              ) -> tuple[list[Inbound], list[tuple[ConsumerRecord, BaseException]]]:
        events, dead = [], []
        for record in records:
            try:
                events.append(self.reader.read(record))
            except Skip:
                METRICS.skipped.labels(self.service.name, self.reader.topic).inc()
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
            METRICS.failed.labels(self.service.name, self.reader.topic, type(exc).__name__).inc()
            log.warning("transient failure, retrying", service=self.service.name,
                        topic=self.reader.topic, attempt=attempt, error=describe(exc))

        try:
            return await retrying(partial(self.handler, events), attempts=TRANSIENT_RETRIES,
                                  base_seconds=BACKOFF_SECONDS, transient=is_transient, on_transient=failed)
        except Exception as exc:
            if is_transient(exc):
                raise  # nack: the batch is read again, nothing is committed
            raise Permanent(describe(exc)) from exc

    async def _dead_letter(self, dead: list[tuple[ConsumerRecord, BaseException]]) -> None:
        if not dead:
            return
        futures, alerts = [], []
        for record, exc in dead:
            futures.append(await self.service.publisher.send_raw(
                self.service.settings.topic(dlq(self.reader.topic)), record.value, record.key,
                dlq_headers(record, exc)))
            METRICS.dead_lettered.labels(self.service.name, self.reader.topic, kind(exc)).inc()
            log.error("dead-lettered", service=self.service.name, topic=self.reader.topic,
                      source=f"{record.topic}/{record.partition}/{record.offset}",
                      error_type=kind(exc), error=describe(exc))
            if self.on_invalid:
                alerts += [(record, a) for a in self.on_invalid(record, exc)]
        await asyncio.gather(*futures)
        await self._alert(alerts)

    async def _alert(self, alerts: list[tuple[ConsumerRecord, Payload]]) -> None:
        entries = []
        per_record: dict[tuple[str, int, int], int] = {}
        for record, payload in alerts:
            # numbered within the record, not the batch: a redelivery in another batch gives the same id
            source = (record.topic, record.partition, record.offset)
            index = per_record[source] = per_record.get(source, -1) + 1
            event_id = derived_id("/".join(map(str, source)), index, by=self.service.name)
            event = new_event(payload, event_id=event_id, source=self.service.source,
                              time=self.service.clock.now())
            entries.append(entry(event_id, payload.TOPIC, payload.subject, encode(event), event_id, payload.TYPE))
        await self.service.publisher.send(entries)


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
    """Decoder: hand the handler the records themselves; each is validated on its own."""
    return message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)


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
