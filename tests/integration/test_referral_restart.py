"""Redelivery and restart: no double assignment, no lost assignment (docs/design.md, The reliable-processing kit)."""

from __future__ import annotations

from services.referral.app import bootstrap
from tests.support import events
from tests.support import referral as r
from tests.support.kafka import Bus
from tests.support.procs import ServiceProcess


async def test_the_same_case_delivered_again_is_assigned_once(settings, bus: Bus, mongo) -> None:
    await bus.ensure("roster.specialists")
    await bus.publish("roster.specialists", r.victim_specialist("sp-1"))
    opened = r.case_opened("case-twice")
    async with bootstrap(settings).app:
        await bus.publish("cases.opened", opened)
        await bus.publish("cases.opened", opened)  # redelivered: the same event id
        await bus.publish("cases.opened", r.case_opened("case-twice"))  # announced again: a new id
        await bus.publish("cases.opened", r.case_opened("case-other"))
        events = await bus.events("referrals.events", count=2, settle=2.0)
    assert r.per_case(events, "assigned") == {"case-twice": 1, "case-other": 1}
    assert len(events) == 2
    db = mongo[settings.database("referral")]
    assert await r.holds(db) == {"sp-1": ["case-other#1", "case-twice#1"]}
    doc = await db["referrals"].find_one({"_id": "case-twice"})
    assert doc["state"]["attempts"] == 1 and len(doc["seen"]) == 2


async def test_sigkill_after_the_write_publishes_the_assignment_once_after_restart(
        settings, bus: Bus, mongo, proc_logs) -> None:
    await bus.ensure("roster.specialists")
    await bus.publish("roster.specialists", r.victim_specialist("sp-1"))
    await bus.publish("roster.specialists", r.victim_specialist("sp-2"))
    referral = ServiceProcess("referral", settings, proc_logs, failpoints="after-write")
    referral.start()
    try:
        await referral.ready()
        opened = r.case_opened("case-crash")
        await bus.publish("cases.opened", opened)
        assert await referral.wait_exit() == -9  # the failpoint fired between write and publish
        db = mongo[settings.database("referral")]
        doc = await db["referrals"].find_one({"_id": "case-crash"})
        assert doc is not None and len(doc["outbox"]) == 1  # decided and held, not yet published
        specialist = doc["state"]["current"]["specialist_id"]
        assert await r.holds(db) == {specialist: ["case-crash#1"]}
        assert await bus.read("referrals.events", timeout=1) == []

        referral.start(failpoints="")
        await referral.ready()
        published = await bus.events("referrals.events", count=1, settle=3.0)
    finally:
        referral.stop()
    [assigned] = published
    assert assigned["id"] == events.output_id(opened, 0, by="referral")
    assert assigned["data"]["specialist_id"] == specialist
    assert await r.holds(db) == {specialist: ["case-crash#1"]}
