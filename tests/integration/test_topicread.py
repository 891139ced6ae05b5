"""Reading whole topics on the real broker (shared.topicread): to the end seen at the start, or on."""

from __future__ import annotations

import asyncio
import time

from shared.topicread import TopicScan, read_to_end
from tests.support.kafka import Bus, eventually

TOPIC = "cases.status"  # compacted, several partitions


async def publish(bus: Bus, *cases: str) -> None:
    for case in cases:
        await bus.publish(TOPIC, case.encode(), key=case)


async def test_read_to_end_stops_at_the_end_offsets_seen_at_the_start(settings, bus: Bus) -> None:
    one_partition = "roster.specialists"
    await bus.ensure(one_partition)
    for i in range(5):
        await bus.publish(one_partition, f"record-{i}".encode(), key=f"sp-{i}")
    read: list[bytes] = []
    async with TopicScan(settings, [one_partition], client_id="test-topicread", max_records=2,
                         principal="admin") as scan:
        [partition] = scan.ends
        scan.ends[partition] = 3  # as if the last two were written after the start (the fetcher has them)
        async for records in scan.to_end():
            read += [r.value for r in records]
    assert read == [b"record-0", b"record-1", b"record-2"]


async def test_what_is_written_after_the_start_is_not_read(settings, bus: Bus) -> None:
    await bus.ensure(TOPIC)
    before = [f"case-{i}" for i in range(12)]
    await publish(bus, *before)
    read: list[str] = []
    async for records in read_to_end(settings, [TOPIC], client_id="test-topicread", max_records=2, principal="admin"):
        if not read:
            await publish(bus, *(f"case-later-{i}" for i in range(12)))
        read += [r.value.decode() for r in records]
    assert sorted(read) == sorted(before)


async def test_a_topic_created_a_moment_ago_is_read_in_full(settings, bus: Bus) -> None:
    await bus.ensure(TOPIC)
    await publish(bus, "case-1", "case-2", "case-3")
    read = [r.value for records in [b async for b in read_to_end(settings, [TOPIC], client_id="test-topicread",
                                                                 principal="admin")]
            for r in records]
    assert sorted(read) == [b"case-1", b"case-2", b"case-3"]


async def test_an_empty_topic_is_read_at_once(settings, bus: Bus) -> None:
    await bus.ensure(TOPIC)
    started = time.monotonic()
    assert [b async for b in read_to_end(settings, [TOPIC], client_id="test-topicread", principal="admin")] == []
    assert time.monotonic() - started < 10


async def test_follow_says_when_it_caught_up_and_goes_on_reading(settings, bus: Bus) -> None:
    await bus.ensure(TOPIC)
    await publish(bus, *(f"case-{i}" for i in range(5)))
    read: list[str] = []
    read_when_caught_up: list[int] = []
    async with TopicScan(settings, [TOPIC], client_id="test-topicread", max_records=2, principal="admin") as scan:
        async def tail() -> None:
            async for records in scan.follow(on_caught_up=lambda: read_when_caught_up.append(len(read))):
                read.extend(r.value.decode() for r in records)
        task = asyncio.create_task(tail())
        try:
            await eventually(lambda: read_when_caught_up)
            await publish(bus, "case-new")
            await eventually(lambda: "case-new" in read)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert read_when_caught_up == [5]  # once, after the records there at the start were handled
    assert sorted(read) == ["case-0", "case-1", "case-2", "case-3", "case-4", "case-new"]
