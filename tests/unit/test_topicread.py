"""The stall timeout of a whole-topic read (shared.topicread), with a broker that stops answering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.settings import Settings
from shared.topicread import TopicScan

TP = TopicPartition("cases.status", 0)


class Broker:
    """Hands over the given batches one per fetch, then nothing."""

    def __init__(self, *batches: list[int]) -> None:
        self.batches = list(batches)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.01)
        if not self.batches:
            return {}
        return {TP: [ConsumerRecord(TP.topic, 0, o, 0, 0, None, b"x", None, 0, 1, []) for o in self.batches.pop(0)]}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def pause(self, *partitions: TopicPartition) -> None:
        pass


def scan_of(broker: Broker, end: int) -> TopicScan:
    scan = TopicScan(Settings(), ["cases.status"], client_id="test", principal="admin")
    scan.consumer = broker  # type: ignore[assignment]
    scan.ends, scan.behind = {TP: end}, {TP}
    return scan


async def test_a_read_that_gets_nothing_for_the_stall_time_gives_up() -> None:
    read: list[int] = []
    with pytest.raises(TimeoutError, match="not read to the end within"):
        async for records in scan_of(Broker([0, 1]), end=5).to_end(stall_seconds=0.2):
            read += [r.offset for r in records]
    assert read == [0, 1]  # what came before the stall was handed over


async def test_time_spent_on_a_batch_does_not_count_as_a_stall() -> None:
    read: list[int] = []
    async for records in scan_of(Broker([0, 1], [2]), end=3).to_end(stall_seconds=0.2):
        read += [r.offset for r in records]
        await asyncio.sleep(0.3)  # longer than the stall time
    assert read == [0, 1, 2]
