"""Publishing the outbox: right after each write, at start-up, and on a timer for leftovers.

Entries are sent without waiting for each acknowledgement in turn; the whole set is then
awaited (acks=all, idempotent producer) before the entries are removed from their
documents. A crash in between re-sends them later under the same event ids, and
consumers de-duplicate on those ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from shared import logging as caselog
from shared.cloudevents import CONTENT_TYPE
from shared.kit.ports import RawRecord
from shared.settings import Settings
from shared.topics import RESTRICTED_TOPICS

log = caselog.get_logger("casework.kit")


def entry(event_id: str, topic: str, key: str, value: bytes, correlation_id: str | None,
          type_: str = "") -> dict[str, Any]:
    return {"id": event_id, "topic": topic, "key": key, "value": value.decode(),
            "correlation_id": correlation_id or event_id, "type": type_}


def log_published(service: str, entries: Sequence[dict[str, Any]]) -> None:
    """One line per event published, naming its type and case: what a user follows.

    Restricted topics are only counted: that a T or U visa case exists is itself protected.
    """
    restricted = 0
    for e in entries:
        if e["topic"] in RESTRICTED_TOPICS:
            restricted += 1
        else:
            log.info("published", service=service, type=e.get("type", ""), subject=e["key"], event_id=e["id"])
    if restricted:
        log.info("published on restricted topics", service=service, events=restricted)


class KafkaPublisher:
    """Sends outbox entries and dead letters through the service's broker."""

    def __init__(self, broker: KafkaBroker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings

    async def send(self, entries: Sequence[dict[str, Any]]) -> int:
        await _confirmed([
            await self.broker.publish(
                e["value"].encode(), self.settings.topic(e["topic"]), key=e["key"].encode(),
                headers={"content-type": CONTENT_TYPE}, correlation_id=e["correlation_id"],
                no_confirm=True)
            for e in entries
        ])
        return len(entries)

    async def send_raw(self, records: Sequence[RawRecord]) -> None:
        await _confirmed([
            await self.broker.publish(r.value, r.topic, key=r.key, headers=dict(r.headers),
                                      correlation_id=r.headers.get("correlation_id"), no_confirm=True)
            for r in records
        ])


async def _confirmed(sends: list[Awaitable[Any] | None]) -> None:
    """Wait for the broker to acknowledge every send (a test broker confirms at once: None)."""
    pending = [s for s in sends if s is not None]
    if pending:
        await asyncio.gather(*pending)
