"""A completed support service on the real broker and FerretDB: the referral service's
``ServiceCompleted`` on ``services.events`` meets the urgent need it is for, and an interview
deferred on that need alone clears itself; a redelivery, a restart and a hostile record each
leave exactly one effect."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from services.stabilization.app import bootstrap
from services.status.access import Tokens
from services.status.app import bootstrap as status_service
from shared.contracts.support import ServiceCompleted
from shared.kit import FakeClock
from shared.settings import Settings
from tests.integration.test_stabilization_flow import (
    CLEARED,
    DEFERRED,
    OPENED,
    PROGRESSED,
    accepted,
    case_events,
    case_opened,
    interview,
    milestone,
    wait,
)
from tests.support.events import cloudevent, seen_as
from tests.support.kafka import Bus
from tests.support.procs import free_port
from tests.support.status import ready, snapshots

SERVICES = "services.events"


def completed(case_id: str, need: str, request_id: str = "sr-1") -> dict[str, Any]:
    """A ``ServiceCompleted`` as the referral service publishes it."""
    payload = ServiceCompleted.model_validate_json(json.dumps({
        "case_id": case_id, "agency_id": "TX-DPS", "region": "US-TX", "service_request_id": request_id,
        "provider_id": f"pr-{need}", "need": need, "specialist_id": "spec-1",
        "completed_at": (OPENED + timedelta(hours=1)).isoformat()}))
    return cloudevent(ServiceCompleted.TYPE, payload.model_dump(mode="json"), subject=case_id,
                      source="casework/referral")


def immediate(settings: Settings) -> Settings:
    """No stabilization period: the interview waits on its urgent need alone."""
    return settings.amended(stabilization={"min_stabilization_hours": 0})


def clock() -> FakeClock:
    return FakeClock(OPENED + timedelta(hours=1))


async def deferred_on_shelter(bus: Bus, case: str) -> None:
    """Opened with shelter open, accepted, needs assessed (shelter), interview iv-1 deferred on it."""
    await bus.publish("cases.opened", case_opened(case, urgent_needs=["shelter"]))
    await bus.publish("referrals.events", accepted(case))
    await wait(bus, PROGRESSED, case, change="case_opened")  # two topics: either may come first
    await wait(bus, PROGRESSED, case, change="specialist_engaged")
    await bus.publish("stabilization.recorded", milestone(case, "needs_assessed", urgent_needs=["shelter"]))
    await wait(bus, PROGRESSED, case, change="needs_assessed")
    await bus.publish("interviews.requested", interview(case, "iv-1"))
    [deferred] = await wait(bus, DEFERRED, case)
    assert [r["rule"] for r in deferred["data"]["reasons"]] == ["urgent_needs_open"]
    assert deferred["data"]["reasons"][0]["urgent_needs"] == ["shelter"]


async def stored_plan(mongo, settings: Settings, case: str) -> dict[str, Any]:
    return await mongo[settings.database("stabilization")]["plans"].find_one({"_id": case})


async def test_a_completed_shelter_meets_the_need_and_clears_the_interview_once(
        settings: Settings, bus: Bus, mongo) -> None:
    settings = immediate(settings)
    case = f"case-{uuid.uuid4().hex[:8]}"
    done = completed(case, "shelter")
    async with bootstrap(settings, clock=clock()).app:
        await deferred_on_shelter(bus, case)
        await bus.publish(SERVICES, done)
        [cleared] = await wait(bus, CLEARED, case)
        assert cleared["data"]["after_deferral"] is True and cleared["data"]["interview_id"] == "iv-1"
        assert cleared["data"]["plan"]["urgent_needs_open"] == []
        assert cleared["data"]["plan"]["interview"] == {"interview_id": "iv-1", "status": "cleared", "reasons": []}

        # A further need is found; the shelter completion is redelivered (the same event id),
        # then a medical one follows it on the case's partition.
        await bus.publish("stabilization.recorded", milestone(case, "needs_assessed", urgent_needs=["medical"]))
        await wait(bus, PROGRESSED, case, change="needs_assessed", count=2)
        await bus.publish(SERVICES, done)
        await bus.publish(SERVICES, completed(case, "medical", request_id="sr-2"))
        [*_, met] = await wait(bus, PROGRESSED, case, change="urgent_need_met")
        assert met["data"]["plan"]["urgent_needs_open"] == [] and met["data"].get("recorded_by") is None
    everything = await case_events(bus, case)
    types = [e["type"] for e in everything]
    assert types.count(CLEARED) == 1 and types.count(DEFERRED) == 1
    changes = [e["data"]["change"] for e in everything if e["type"] == PROGRESSED]
    assert sorted(changes[:2]) == ["case_opened", "specialist_engaged"]  # two topics: either came first
    assert changes[2:] == ["needs_assessed", "needs_assessed", "urgent_need_met"]  # shelter met: the clearance said it
    stored = await stored_plan(mongo, settings, case)
    assert stored["seen"].count(seen_as(done)) == 1
    assert stored["state"]["met"] == ["medical", "shelter"]


async def test_a_completion_published_while_the_service_was_down_is_applied_once(
        settings: Settings, bus: Bus, mongo) -> None:
    settings = immediate(settings)
    case = f"case-{uuid.uuid4().hex[:8]}"
    async with bootstrap(settings, clock=clock()).app:
        await deferred_on_shelter(bus, case)
    done = completed(case, "shelter")
    await bus.publish(SERVICES, done)  # while down, and delivered twice
    await bus.publish(SERVICES, done)
    async with bootstrap(settings, clock=clock()).app:  # a new process, the same database
        [cleared] = await wait(bus, CLEARED, case)
        assert cleared["data"]["after_deferral"] is True and cleared["data"]["plan"]["urgent_needs_open"] == []
    types = [e["type"] for e in await case_events(bus, case)]
    assert types.count(CLEARED) == 1 and types.count(DEFERRED) == 1
    stored = await stored_plan(mongo, settings, case)
    assert stored["seen"].count(seen_as(done)) == 1 and stored["state"]["met"] == ["shelter"]


async def test_a_hostile_record_on_services_events_is_dead_lettered_and_the_service_goes_on(
        settings: Settings, bus: Bus) -> None:
    settings = immediate(settings)
    case = f"case-{uuid.uuid4().hex[:8]}"
    bad_need = completed(case, "shelter") | {"id": str(uuid.uuid4())}
    bad_need["data"] = bad_need["data"] | {"need": "yacht"}
    hostile = [b"not json", b"\x00\xff", bad_need]
    async with bootstrap(settings, clock=clock()).app:
        await deferred_on_shelter(bus, case)
        for record in hostile:
            await bus.publish(SERVICES, record, key=case)  # on the case's partition, before the valid one
        await bus.publish(SERVICES, completed(case, "shelter"))
        await wait(bus, CLEARED, case)
    dead = await bus.read(f"{SERVICES}.dlq", until=lambda records: len(records) >= 3, timeout=10)
    assert [r.value for r in dead][:2] == [b"not json", b"\x00\xff"] and len(dead) == 3
    assert b"yacht" in dead[2].value


async def shown_open(bus: Bus, case: str, needs: list[str]) -> dict[str, Any]:
    """The case's first snapshot on ``cases.status`` with exactly these urgent needs open (waits for it)."""
    def with_needs(records: list[Any]) -> list[dict[str, Any]]:
        return [s for s in snapshots(records).get(case, []) if s["data"]["stabilization"]["urgent_needs_open"] == needs]
    found = with_needs(await bus.read("cases.status", until=with_needs))
    assert found, f"no snapshot of {case} with {needs} open"
    return found[0]


async def test_a_completed_shelter_shows_on_cases_status_as_no_longer_open(settings: Settings, bus: Bus) -> None:
    """Stabilization meets the need; status, which folds its plan, publishes it met."""
    case = f"case-{uuid.uuid4().hex[:8]}"
    status = status_service(settings, tokens=Tokens([]), dashboard_port=(port := free_port()))
    async with bootstrap(settings, clock=clock()).app, status.app:
        await ready(port)
        await bus.publish("cases.opened", case_opened(case, urgent_needs=["shelter", "medical"]))
        await wait(bus, PROGRESSED, case, change="case_opened")  # the plan has both needs open
        before = await shown_open(bus, case, ["medical", "shelter"])
        await bus.publish(SERVICES, completed(case, "shelter"))
        [met] = await wait(bus, PROGRESSED, case, change="urgent_need_met")
        assert met["data"]["plan"]["urgent_needs_open"] == ["medical"]
        after = await shown_open(bus, case, ["medical"])  # the medical need stays open
    assert after["data"]["version"] > before["data"]["version"]
