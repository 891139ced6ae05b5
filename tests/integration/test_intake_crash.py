"""A crash between the case write and its publish loses nothing and duplicates nothing."""

from __future__ import annotations

from tests.support import events
from tests.support.kafka import Bus
from tests.support.procs import ServiceProcess


async def test_sigkill_after_write_before_publish_publishes_once_after_restart(
        settings, bus: Bus, mongo, proc_logs) -> None:
    intake = ServiceProcess("intake", settings, proc_logs, failpoints="after-write")
    intake.start()
    try:
        await intake.ready()
        encounter = events.encounter("ENC-crash")
        await bus.publish("encounters.reported", encounter)
        assert await intake.wait_exit() == -9  # SIGKILL: the failpoint fired after the write
        doc = await mongo[settings.database("intake")]["cases"].find_one({"_id": "TX-DPS|ENC-crash"})
        assert doc is not None and len(doc["outbox"]) == 1  # written, not yet published
        assert await bus.read("cases.opened", timeout=1) == []

        intake.start(failpoints="")
        await intake.ready()
        opened = await bus.events("cases.opened", count=1, settle=3.0)
    finally:
        intake.stop()
    assert len(opened) == 1
    assert opened[0]["id"] == events.output_id(encounter, 0, by="intake")
    assert opened[0]["data"]["case_id"] == doc["state"]["case_id"]
    assert not [c for c in events.CANARIES if c in intake.log()]
