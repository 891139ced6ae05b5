"""Reading whole topics from their first offsets, with a consumer of one's own.

A service's start-up read of the roster (:func:`events_to_end`), ``casework status
rebuild`` and the dashboard's board all read every partition from the beginning, without
a consumer group and committing nothing, so no service's committed offsets move.
:func:`read_to_end` stops at the end offsets seen when it began; :meth:`TopicScan.follow`
goes on reading after them and says when it got there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared import logging as caselog
from shared.kafka import connection, partitions_of, stopped
from shared.kit.inbound import Inbound, Skip, TopicReader
from shared.settings import Settings

log = caselog.get_logger("casework.topicread")
STALL_SECONDS = 60.0  # the broker handing over nothing for this long while records are due: give up
RETRY_SECONDS = 1.0
SCAN_FETCH_WAIT_MS = 100


class TopicScan:
    """One consumer over every partition of some topics (contract names), from the beginning."""

    def __init__(self, settings: Settings, topics: Iterable[str], *, principal: str, client_id: str,
                 max_records: int = 500,
                 **options: Any) -> None:
        self.settings = settings
        self.topics = sorted({settings.topic(t) for t in topics})
        self.max_records = max_records
        self.principal = principal
        # A read to the end stops once there: a short long poll, since a consumer's stop waits for
        # the fetch in flight over TLS (see KitSettings.fetch_max_wait_ms).
        options.setdefault("fetch_max_wait_ms", SCAN_FETCH_WAIT_MS)
        self.consumer = AIOKafkaConsumer(**connection(settings, principal), group_id=None, enable_auto_commit=False,
                                         auto_offset_reset="earliest", client_id=client_id, **options)
        self.ends: dict[TopicPartition, int] = {}  # as seen at the start
        self.behind: set[TopicPartition] = set()  # partitions not yet read up to that end

    async def open(self) -> TopicScan:
        await self.consumer.start()
        try:
            # A new topic is not read as empty.
            partitions = await partitions_of(self.settings, self.topics, principal=self.principal)
            self.consumer.assign(partitions)
            # Positions asked for and set here, not left to the fetcher's reset: a request for
            # them retries until a partition created a moment ago has its leader, where the
            # fetcher's reset, refused then (NotLeaderForPartition), was seen to wait 30 s.
            for partition, first in (await self.consumer.beginning_offsets(partitions)).items():
                self.consumer.seek(partition, first)
            self.ends = await self.consumer.end_offsets(partitions)
        except BaseException:
            await stopped(self.consumer)
            raise
        self.behind = {tp for tp, end in self.ends.items() if end > 0}
        return self

    async def close(self) -> None:
        await stopped(self.consumer)

    async def __aenter__(self) -> TopicScan:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def fetch(self, timeout_ms: int = 500) -> list[ConsumerRecord]:
        """The next records, partition by partition in offset order; notes the partitions now at their end."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        for tp, records in fetched.items():
            if records and tp in self.behind and records[-1].offset + 1 >= self.ends[tp]:
                self.behind.discard(tp)
        return [record for records in fetched.values() for record in records]

    async def to_end(self, stall_seconds: float = STALL_SECONDS) -> AsyncIterator[list[ConsumerRecord]]:
        """Batches of the records below the end offsets seen at the start; later ones are left.

        Raises ``TimeoutError`` when nothing arrives for ``stall_seconds`` while records are
        still due (the time the caller spends on a batch does not count).
        """
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        self._pause_finished()
        while self.behind:
            records = [r for r in await self.fetch() if r.offset < self.ends[TopicPartition(r.topic, r.partition)]]
            self._pause_finished()
            if records:
                yield records
                quiet_since = loop.time()
            elif loop.time() - quiet_since > stall_seconds:
                raise TimeoutError(f"{sorted({tp.topic for tp in self.behind})} not read to the end "
                                   f"within {stall_seconds:.0f} s")

    async def follow(self, on_caught_up: Callable[[], None]) -> AsyncIterator[list[ConsumerRecord]]:
        """Every record, then each new one, for as long as it is iterated.

        ``on_caught_up`` is called once, after the batch that reaches the end offsets seen at
        the start was handled (at once when the topics were empty). A failed fetch is logged
        and tried again: aiokafka reconnects to a broker that went away.
        """
        caught_up = False
        while True:
            if not caught_up and not self.behind:
                caught_up = True
                on_caught_up()
            try:
                records = await self.fetch()
            except Exception as exc:
                log.warning("topic read failed, retrying", topics=self.topics, exc_info=exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if records:
                yield records

    def _pause_finished(self) -> None:
        done = [tp for tp in self.consumer.assignment() if tp not in self.behind]
        if done:
            self.consumer.pause(*done)


async def read_to_end(settings: Settings, topics: Iterable[str], *, principal: str, client_id: str,
                      max_records: int = 500,
                      stall_seconds: float = STALL_SECONDS,
                      **options: Any) -> AsyncGenerator[list[ConsumerRecord], None]:
    """Batches of every record of these topics, from the beginning up to the end offsets seen
    at the start (see :meth:`TopicScan.to_end`). Wrap it in ``contextlib.aclosing`` when the
    loop may stop early, so the consumer is closed at once."""
    async with TopicScan(settings, topics, principal=principal, client_id=client_id, max_records=max_records,
                         **options) as scan:
        async for records in scan.to_end(stall_seconds):
            yield records


async def events_to_end(settings: Settings, reader: TopicReader, *, principal: str, client_id: str) -> list[Inbound]:
    """A topic's readable events up to the end offsets seen at the start: a service's start-up
    read of a compacted topic. What cannot be read is left to the topic's subscriber, which
    dead-letters it; so is the rest when the read stalls (a warning says so)."""
    events: list[Inbound] = []
    try:
        async for records in read_to_end(settings, [reader.topic], principal=principal, client_id=client_id):
            events += _readable(reader, records)
    except TimeoutError as exc:
        log.warning("topic only partly read at start-up; its subscriber reads the rest", client=client_id,
                    error=str(exc))
    return events


def _readable(reader: TopicReader, records: Iterable[ConsumerRecord]) -> list[Inbound]:
    events = []
    for record in records:
        try:
            events.append(reader.read(record))
        except (ValueError, RecursionError, Skip):  # ValidationError and InvalidEvent are ValueErrors
            continue
    return events
