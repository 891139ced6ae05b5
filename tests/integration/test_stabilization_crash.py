"""The stabilization service as a real process (``faststream run``): SIGKILLed between a
plan write and its publish, it publishes the event once after a restart, and the event
delivered again is not applied twice."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import connection
from shared.settings import Settings
from tests.integration.test_stabilization_flow import PROGRESSED, case_events, case_opened, wait
from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess


async def committed(settings: Settings, topic: str) -> int:
    """Messages of ``topic`` the service has committed, over all partitions."""
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            f"{settings.topic_prefix}casework.stabilization.{topic}")
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for meta in offsets.values())


async def test_sigkill_after_the_write_publishes_once_and_applies_once(
        settings: Settings, bus: Bus, mongo, proc_logs) -> None:
    case = f"case-{uuid.uuid4().hex[:8]}"
    plans = mongo[settings.database("stabilization")]["plans"]
    service = ServiceProcess("stabilization", settings, proc_logs, failpoints="after-write")
    service.start()
    try:
        await service.ready()
        opened = case_opened(case, urgent_needs=["medical"])
        await bus.publish("cases.opened", opened)
        assert await service.wait_exit() == -9  # killed after the write, before the publish
        doc = await plans.find_one({"_id": case})
        assert doc["version"] == 1 and len(doc["outbox"]) == 1 and doc["seen"] == [events.seen_as(opened)]
        assert await committed(settings, "cases.opened") == 0  # so it will be delivered again

        service.start(failpoints="")
        await service.ready()
        [progressed] = await wait(bus, PROGRESSED, case, change="case_opened")
        await eventually(lambda: committed(settings, "cases.opened"))  # the redelivery was handled
    finally:
        service.stop()
    assert progressed["id"] == events.output_id(opened, 0, by="stabilization")
    assert progressed["data"]["plan"]["urgent_needs_open"] == ["medical"]
    assert [e["id"] for e in await case_events(bus, case)] == [progressed["id"]]
    doc = await plans.find_one({"_id": case})
    assert doc["version"] == 1 and doc["seen"] == [events.seen_as(opened)]  # applied once
