"""Deadline reminders on the real broker with the fake clock, across a restart and a crash:
each reminder and each expiry is published once (U3, C3)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from services.certification.app import bootstrap
from shared.kit import FakeClock
from tests.support import events
from tests.support.kafka import Bus
from tests.support.procs import ServiceProcess

START = datetime(2026, 8, 31, 12, 0, tzinfo=UTC)
# U visa signed on the agency's Aug 31 (Central): last day Feb 27, 2027, lapsing 06:00 UTC Feb 28.
REMIND_30 = datetime(2027, 1, 28, 6, 0, tzinfo=UTC)
REMIND_7 = datetime(2027, 2, 20, 6, 0, tzinfo=UTC)
U_LAPSE = datetime(2027, 2, 28, 6, 0, tzinfo=UTC)
# Continued Presence valid until noon on Mar 31, 2027: renewal reminder 90 days before.
CP_UNTIL = datetime(2027, 3, 31, 12, 0, tzinfo=UTC)
CP_RENEWAL = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def deadline_events(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = ("casework.certification.expiring.v1", "casework.certification.expired.v1")
    return [e for e in published if e["type"] in wanted]


async def wait_for(bus: Bus, count: int) -> list[dict[str, Any]]:
    """The distinct deadline events so far, once ``count`` are out and a second has passed
    without more (consumers de-duplicate on the event id)."""
    def distinct(records: list[Any]) -> list[dict[str, Any]]:
        decoded = deadline_events([json.loads(r.value) for r in records if r.value])
        return list({e["id"]: e for e in decoded}.values())
    records = await bus.read("certifications.events", until=lambda r: len(distinct(r)) >= count,
                             settle=1.0)
    return distinct(records)


async def test_reminders_and_expiries_fire_once_across_a_restart(settings, bus: Bus) -> None:
    clock = FakeClock(START)
    first = bootstrap(settings, clock=clock)
    async with first.app:
        await bus.publish("certifications.requested", events.certification_requested("case-R", "u-R"))
        await bus.publish("certifications.requested", events.certification_requested(
            "case-R", "cp-R", "continued_presence", agency_level="federal"))
        await bus.publish("certifications.recorded", events.certification_recorded(
            "case-R", "u-R", "signed", "2026-08-31T22:00:00-06:00", signed_by=events.SIGNATORY))
        await bus.publish("certifications.recorded", events.certification_recorded(
            "case-R", "cp-R", "granted", "2026-09-01T10:00:00Z", valid_until=CP_UNTIL))
        assert await bus.events("certifications.status", count=1, where=lambda e: {
            c["certification_id"]: c["status"] for c in e["data"]["certifications"]} == {
            "u-R": "signed", "cp-R": "granted"})
        clock.set(CP_RENEWAL)
        assert len(await wait_for(bus, 1)) == 1
        clock.set(REMIND_30)
        assert len(await wait_for(bus, 2)) == 2
    clock.set(REMIND_7)  # comes due while the service is down
    second = bootstrap(settings, clock=clock)
    async with second.app:
        assert len(await wait_for(bus, 3)) == 3
        clock.set(CP_UNTIL)  # both lapse: the U visa on Feb 28, the CP at noon on Mar 31
        published = await wait_for(bus, 5)
        [final] = await bus.events("certifications.status", count=1, where=lambda e: all(
            c["status"] == "expired" for c in e["data"]["certifications"]))
    assert {c["certification_id"]: c["reminders_sent"] for c in final["data"]["certifications"]} == {
        "u-R": ["remind30@2027-02-27", "remind7@2027-02-27"], "cp-R": ["renewal@2027-03-31"]}
    assert len(published) == 5  # each once: a timer's event id is fixed by the timer
    seen = Counter((e["data"]["certification_id"], e["type"].split(".")[2], e["data"].get("days_left"))
                   for e in published)
    assert seen == Counter({("cp-R", "expiring", 90): 1, ("u-R", "expiring", 30): 1,
                            ("u-R", "expiring", 7): 1, ("u-R", "expired", None): 1,
                            ("cp-R", "expired", None): 1})
    [u_expired] = [e for e in published if e["data"]["certification_id"] == "u-R" and e["type"].endswith("expired.v1")]
    assert u_expired["data"]["lapses_at"] == U_LAPSE.isoformat().replace("+00:00", "Z")


async def test_a_crash_between_write_and_publish_publishes_once_after_restart(
        settings, bus: Bus, mongo, proc_logs) -> None:
    service = ServiceProcess("certification", settings, proc_logs, failpoints="after-write")
    request = events.certification_requested("case-K", "cp-K", "continued_presence", agency_level="tribal")
    service.start()
    try:
        await service.ready()
        await bus.publish("certifications.requested", request)
        assert await service.wait_exit() == -9  # SIGKILL right after the write, before the publish
        doc = await mongo[settings.database("certification")]["certifications"].find_one({"_id": "case-K"})
        assert doc is not None and len(doc["outbox"]) == 3  # changed, routed to HSI, snapshot
        assert await bus.read("certifications.events", timeout=1) == []

        service.start(failpoints="")
        await service.ready()
        published = await bus.events("certifications.events", count=2, settle=2.0)
        snapshots = await bus.events("certifications.status", count=1, settle=0.5)
    finally:
        service.stop()
    ids = [events.output_id(request, i, by="certification") for i in (0, 1, 2)]
    assert sorted(e["id"] for e in published) == sorted(ids[:2])
    assert [s["id"] for s in snapshots] == [ids[2]]
    assert {e["type"] for e in published} == {"casework.certification.status_changed.v1",
                                              "casework.certification.routed_to_hsi.v1"}
