"""The crash windows of outboxes without a clearing write, with real SIGKILLs and a real
rebalance: after the publish and before the watermark, and a second instance joining
mid-burst (its partitions move while batches are in flight)."""

from __future__ import annotations

import asyncio

from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess


async def test_sigkill_after_publish_before_the_watermark_resends_the_same_event_once(
        settings, bus: Bus, mongo, proc_logs) -> None:
    intake = ServiceProcess("intake", settings, proc_logs, failpoints="after-publish")
    intake.start()
    try:
        await intake.ready()
        first = events.encounter("ENC-published")
        await bus.publish("encounters.reported", first)
        assert await intake.wait_exit() == -9  # the broker took cases.opened; the watermark does not know
        sent = await bus.events("cases.opened", count=1, settle=1.0)
        assert [e["id"] for e in sent] == [events.output_id(first, 0, by="intake")]

        intake.start(failpoints="")
        await intake.ready()
        # The offset was not committed: the encounter comes again, finds itself seen, and its
        # outbox (not covered by any saved watermark) goes out again under the same id.
        again = await bus.events("cases.opened", count=2, settle=3.0)
        assert [e["id"] for e in again] == [sent[0]["id"]] * 2
        assert again[0]["data"] == again[1]["data"]

        intake.stop()  # a clean stop saves the watermark and commits
        intake.start(failpoints="")
        await intake.ready()
        second = events.encounter("ENC-after")
        await bus.publish("encounters.reported", second)
        final = await bus.events("cases.opened", count=3, settle=3.0)
    finally:
        intake.stop()
    # (the second encounter may be on another partition: order across partitions is not kept)
    assert sorted(e["id"] for e in final) == sorted([sent[0]["id"]] * 2 + [events.output_id(second, 0, by="intake")])
    cases = mongo[settings.database("intake")]["cases"]
    assert await cases.count_documents({}) == 2
    assert not [c for c in events.CANARIES if c in intake.log()]


async def test_an_instance_joining_mid_burst_loses_and_repeats_no_case(settings, bus: Bus, mongo, proc_logs) -> None:
    count = 300  # paced over about 20 s, so that the second instance joins while it goes on
    first = ServiceProcess("intake", settings, proc_logs)
    joining = ServiceProcess("intake", settings, proc_logs / "second")
    (proc_logs / "second").mkdir()
    first.start()
    try:
        await first.ready()
        encounters = [events.encounter(f"ENC-rebalance-{i}") for i in range(count)]
        for i, encounter in enumerate(encounters):
            await bus.publish("encounters.reported", encounter)
            if i == count // 6:
                joining.start()  # the group rebalances while the first instance has batches in flight
            await asyncio.sleep(0.06)
        await joining.ready()
        cases = mongo[settings.database("intake")]["cases"]
        await eventually(lambda: _count(cases, count), timeout=90)
        opened = await bus.events("cases.opened", count=count, settle=3.0)
    finally:
        joining.stop()
        first.stop()
    by_case: dict[str, set[str]] = {}
    for event in opened:
        by_case.setdefault(event["data"]["case_id"], set()).add(event["id"])
    assert len(by_case) == count  # every encounter opened a case
    assert all(len(ids) == 1 for ids in by_case.values())  # one event id per case (repeats are copies)
    assert {e["id"] for e in opened} == {events.output_id(e, 0, by="intake") for e in encounters}
    # Both instances handled part of the burst: the partitions really moved mid-way.
    assert "casework.case.opened.v1" in first.log() and "casework.case.opened.v1" in joining.log()
    assert not [c for c in events.CANARIES if c in first.log() + joining.log()]


async def _count(collection, expected: int) -> bool:
    return await collection.count_documents({}) == expected
