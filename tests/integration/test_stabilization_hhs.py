"""The HHS notice for a minor (M1) on the real broker: reminder at 12 h, escalation at 24 h,
each fired once although the service restarts around and between them (durable timers)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client import REGISTRY

from services.stabilization.app import bootstrap
from shared.kit import FakeClock
from shared.settings import Settings
from tests.integration.test_stabilization_flow import OPENED, PROGRESSED, case_events, case_opened, milestone, wait
from tests.support.kafka import Bus

DUE = "casework.hhs_notification.due.v1"
OVERDUE = "casework.hhs_notification.overdue.v1"


def breaches() -> float:
    labels = {"service": "stabilization", "kind": "hhs_notification"}
    return REGISTRY.get_sample_value("casework_sla_breaches_total", labels) or 0.0


async def test_hhs_reminder_and_overdue_fire_once_across_restarts(settings: Settings, bus: Bus, mongo) -> None:
    clock = FakeClock(OPENED)
    case = f"case-{uuid.uuid4().hex[:8]}"
    breaches_before = breaches()
    service = bootstrap(settings, clock=clock)
    async with service.app:
        await bus.publish("cases.opened", case_opened(case, minor=True, priority="urgent"))
        [opened] = await wait(bus, PROGRESSED, case, change="case_opened")
        assert opened["data"]["plan"]["hhs_notification"] == "due"
        clock.advance(hours=11, minutes=59)
        assert await service.sweep_timers() == 0  # not due yet

    clock.advance(minutes=1)  # the reminder comes due while no process runs
    async with bootstrap(settings, clock=clock).app:
        [reminder] = await wait(bus, DUE, case)
    assert reminder["data"]["due_at"] == (OPENED + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert reminder["data"]["region"] == "US-TX" and reminder["data"]["agency_id"] == "TX-DPS"

    service = bootstrap(settings, clock=clock)
    async with service.app:
        assert await service.sweep_timers() == 0  # a restart at the same moment fires nothing again
        clock.advance(hours=12)
        [overdue] = await wait(bus, OVERDUE, case)
    assert overdue["data"]["plan"]["hhs_notification"] == "overdue"

    async with bootstrap(settings, clock=clock).app:
        clock.advance(hours=48)
        await bus.publish("stabilization.recorded", milestone(case, "hhs_notified"))
        [done] = await wait(bus, PROGRESSED, case, change="hhs_notified")
    assert done["data"]["plan"]["hhs_notification"] == "done"

    types = [e["type"] for e in await case_events(bus, case)]
    assert types.count(DUE) == 1 and types.count(OVERDUE) == 1
    assert types.index(DUE) < types.index(OVERDUE)
    plan = await mongo[settings.database("stabilization")]["plans"].find_one({"_id": case})
    assert plan["state"]["timers"] == {} and plan["due_at"] is None
    assert breaches() == breaches_before + 1
