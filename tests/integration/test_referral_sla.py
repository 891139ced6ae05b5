"""Acknowledgement SLA: escalate and reassign, with the injected clock and once for real."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.referral.app import bootstrap
from shared.kit import FakeClock
from tests.support import referral as r
from tests.support.kafka import Bus


async def roster(bus: Bus, *ids: str) -> None:
    await bus.ensure("roster.specialists")
    for sid in ids:
        await bus.publish("roster.specialists", r.victim_specialist(sid))


async def test_unaccepted_referrals_escalate_reassign_and_widen_to_all_supervisors(settings, bus: Bus, mongo) -> None:
    settings = settings.amended(referral={"max_escalations": 1})
    clock = FakeClock()
    await roster(bus, "sp-1", "sp-2")
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("cases.opened", r.case_opened("case-sla", priority="urgent"))
        [first] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
        assert first["data"]["ack_due_at"] == (clock.now() + timedelta(seconds=300)).isoformat().replace("+00:00", "Z")
        clock.advance(seconds=299)
        await asyncio.sleep(0.5)  # sweeps run meanwhile; nothing is due yet
        assert not await bus.events("referrals.events", where=r.is_kind("escalated"), timeout=0.5)
        clock.advance(seconds=1)
        await bus.events("referrals.events", count=1, where=r.is_kind("escalated"))
        clock.advance(seconds=300)
        await bus.events("referrals.events", count=2, where=r.is_kind("escalated"))
        events = await bus.events("referrals.events", count=5)  # 3 assignments, 2 escalations
    escalated = r.of_kind(events, "escalated")
    assert [(e["data"]["escalations"], e["data"]["scope"]) for e in escalated] == [(1, "region"), (2, "all")]
    assigned = [e["data"]["specialist_id"] for e in r.of_kind(events, "assigned")]
    assert assigned[0] != assigned[1] and assigned[1] == escalated[1]["data"]["specialist_id"]
    assert [e["data"]["specialist_id"] for e in escalated] == assigned[:2]
    # the timed-out referrals were released
    assert await r.holds(mongo[settings.database("referral")]) == {assigned[2]: ["case-sla#3"]}


async def test_a_timer_due_while_the_service_was_down_fires_once_after_restart(settings, bus: Bus) -> None:
    clock = FakeClock()
    await roster(bus, "sp-1", "sp-2")
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("cases.opened", r.case_opened("case-down"))
        await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
    clock.advance(minutes=31)  # past the normal SLA while nothing runs
    first, second = bootstrap(settings, clock=clock), bootstrap(settings, clock=clock)
    async with first.app, second.app:  # two instances sweep the same timers
        await asyncio.gather(first.sweep_timers(), second.sweep_timers())
        events = await bus.events("referrals.events", count=3, settle=2.0)
    assert r.per_case(events, "escalated") == {"case-down": 1}
    assert len(r.of_kind(events, "escalated")) == 1  # not even a re-sent duplicate
    assert len(r.of_kind(events, "assigned")) == 2


async def test_escalation_end_to_end_with_a_short_sla(settings, bus: Bus) -> None:
    settings = settings.amended(referral={"ack_sla_seconds_normal": 1})
    await roster(bus, "sp-1", "sp-2")
    async with bootstrap(settings).app:  # the real clock
        await bus.publish("cases.opened", r.case_opened("case-short"))
        events = await bus.events("referrals.events", count=3, timeout=20)
    [escalated] = r.of_kind(events, "escalated")[:1]
    first, second = r.of_kind(events, "assigned")[:2]
    assert escalated["data"]["referral_id"] == first["data"]["referral_id"]
    assert second["data"]["specialist_id"] != first["data"]["specialist_id"]
    assert escalated["data"]["scope"] == "region" and second["data"]["escalations"] == 1


async def test_an_unassigned_case_is_retried_periodically_even_without_a_roster_event(
        settings, bus: Bus, mongo) -> None:
    clock = FakeClock()
    await roster(bus)  # nobody yet
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("cases.opened", r.case_opened("case-wait"))
        await bus.events("referrals.events", count=1, where=r.is_kind("unassigned"))
        # a specialist appears without any roster event reaching the service (nothing wakes it)
        await mongo[settings.database("referral")]["roster"].insert_one({
            "_id": "sp-quiet", "offset": 0, "removed": False, "agency_id": "TX-DPS", "languages": ["es"],
            "regions": ["US-TX"], "role": "victim_specialist", "on_duty": True, "max_active_cases": 1})
        clock.advance(seconds=59)
        assert not await bus.events("referrals.events", where=r.is_kind("assigned"), timeout=1)
        clock.advance(seconds=1)
        [assigned] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
    assert assigned["data"]["specialist_id"] == "sp-quiet"
