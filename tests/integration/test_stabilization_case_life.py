"""Stabilization and the case's life, on the real broker and FerretDB: the HHS notice counts
from the encounter's ``occurred_at`` (first reports and corrections), a closure silences the
reminders but not a minor's HHS notice (unless withdrawn or a duplicate), a reopening re-arms
from the current state (docs/design.md, Case life)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.app import bootstrap as intake_bootstrap
from services.stabilization.app import bootstrap
from shared.kafka import headers_of
from shared.kit import FakeClock
from shared.settings import Settings
from tests.integration.test_intake_case_life import CORRECTED_CANARIES, corrected_to_a_child, report
from tests.integration.test_stabilization_flow import (
    OPENED,
    PROGRESSED,
    accepted,
    case_events,
    case_opened,
    interview,
    milestone,
    wait,
)
from tests.support import events
from tests.support.events import cloudevent
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

DUE, OVERDUE = "casework.hhs_notification.due.v1", "casework.hhs_notification.overdue.v1"
DEFERRED, CLEARED = "casework.interview.deferred.v1", "casework.interview.cleared.v1"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def case_corrected(case_id: str, revision: int = 1, *, at: datetime = OPENED, **overrides: Any) -> dict[str, Any]:
    data = {"case_id": case_id, "encounter_id": f"ENC-{case_id}", "agency_id": "TX-DPS", "revision": revision,
            "region": "US-TX", "occurred_at": OPENED.isoformat(), "corrected_at": at.isoformat(),
            "languages": ["es"], "interpreter_needed": False, "urgent_needs": ["shelter"], "priority": "urgent",
            "minor": True, "minor_revealed": True, "screening": {"categories": {"minor": 1}, "indicator_count": 1}}
    return cloudevent("casework.case.corrected.v1", data | overrides, subject=case_id, source="casework/intake")


def closure(case_id: str, reason: str = "services_completed") -> dict[str, Any]:
    data = {"case_id": case_id, "agency_id": "TX-DPS", "region": "US-TX", "priority": "high", "escalations": 0,
            "closed_at": OPENED.isoformat(), "reason": reason, "request_event_id": f"req-{uuid.uuid4().hex[:6]}",
            "closed_by": None if reason == "withdrawn" else {"id": "spec-1", "role": "victim_specialist"}}
    return cloudevent("casework.referral.case_closed.v1", data, subject=case_id, source="casework/referral")


def reopening(case_id: str) -> dict[str, Any]:
    data = {"case_id": case_id, "agency_id": "TX-DPS", "region": "US-TX", "priority": "high", "escalations": 0,
            "reopened_at": OPENED.isoformat(), "reopened_by": {"id": "sup-1", "role": "supervisor"},
            "reason": "closed_in_error", "reopen_count": 1, "request_event_id": f"req-{uuid.uuid4().hex[:6]}"}
    return cloudevent("casework.referral.case_reopened.v1", data, subject=case_id, source="casework/referral")


async def plan_of(mongo: Any, settings: Settings, case_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = await mongo[settings.database("stabilization")]["plans"].find_one({"_id": case_id})
    return doc


async def test_the_hhs_notice_counts_from_occurred_at_for_first_reports_and_corrections(
        settings: Settings, bus: Bus) -> None:
    clock = FakeClock(OPENED + timedelta(hours=5))  # processed five hours after the encounter
    first, late, revealed = (f"case-{uuid.uuid4().hex[:8]}" for _ in range(3))
    service = bootstrap(settings, clock=clock)
    async with service.app:
        await bus.publish("cases.opened", case_opened(first, minor=True, opened_at=iso(clock.now())))
        [opened] = await wait(bus, PROGRESSED, first, change="case_opened")
        assert opened["data"]["plan"]["hhs_due_at"] == iso(OPENED + timedelta(hours=24))

        earlier = OPENED - timedelta(hours=30)  # an encounter reported 35 hours after it happened
        await bus.publish("cases.opened", case_opened(late, minor=True, occurred_at=iso(earlier)))
        [overdue] = await wait(bus, OVERDUE, late)
        assert overdue["data"]["due_at"] == iso(earlier + timedelta(hours=24))

        await bus.publish("cases.opened", case_opened(revealed))
        await wait(bus, PROGRESSED, revealed, change="case_opened")
        correction = case_corrected(revealed, at=clock.now())
        await bus.publish("cases.opened", correction)
        await bus.publish("cases.opened", correction)  # delivered again
        await bus.publish("cases.opened", case_corrected(revealed, 1, minor=False, minor_revealed=False))  # stale
        [fixed] = await wait(bus, PROGRESSED, revealed, change="case_corrected")
        assert fixed["data"]["plan"]["minor"] is True and fixed["data"]["plan"]["hhs_notification"] == "due"
        assert fixed["data"]["plan"]["hhs_due_at"] == iso(OPENED + timedelta(hours=24))

        clock.advance(hours=7)  # twelve hours after the encounter, not after the correction
        [reminder] = await wait(bus, DUE, revealed)
        [first_reminder] = await wait(bus, DUE, first)
        clock.advance(hours=12)
        await wait(bus, OVERDUE, revealed)
    assert reminder["data"]["due_at"] == iso(OPENED + timedelta(hours=24))
    assert first_reminder["data"]["due_at"] == iso(OPENED + timedelta(hours=24))
    types = [e["type"] for e in await case_events(bus, revealed)]
    assert types == [PROGRESSED, PROGRESSED, DUE, OVERDUE]  # opened, corrected once, reminder, overdue
    assert [e["type"] for e in await case_events(bus, late)] == [OVERDUE]


async def test_a_correction_through_intake_reveals_a_minor_overdue_from_the_encounter_without_pii(
        settings: Settings, bus: Bus, logs) -> None:
    """Intake and stabilization together: the encounter happened days before it was processed,
    so the notice revealed by the correction is overdue at once, and the corrected identity
    reaches neither the topics nor the logs."""
    happened = iso(datetime.now(UTC) - timedelta(hours=30))
    async with intake_bootstrap(settings).app, bootstrap(settings).app:
        await bus.publish("encounters.reported", report("ENC-chain", person={"date_of_birth": "1990-01-01"},
                                                        occurred_at=happened))
        [opened] = await bus.events("cases.opened", count=1)
        case = opened["data"]["case_id"]
        await wait(bus, PROGRESSED, case, change="case_opened")
        await bus.publish("encounters.reported", corrected_to_a_child("ENC-chain", occurred_at=happened))
        [overdue] = await wait(bus, OVERDUE, case)
    occurred = datetime.fromisoformat(opened["data"]["occurred_at"])
    assert datetime.fromisoformat(overdue["data"]["due_at"]) == occurred + timedelta(hours=24)
    assert overdue["data"]["plan"]["minor"] is True and overdue["data"]["plan"]["hhs_notification"] == "overdue"
    canaries = (*events.CANARIES, *CORRECTED_CANARIES)
    for topic in ("cases.opened", "stabilization.events", "intake.events"):
        for record in await bus.read(topic, timeout=2):
            assert not [c for c in canaries if c in record.value.decode() + repr(record.headers)], topic
    assert not [c for c in canaries if c in logs.getvalue()]


async def test_a_closure_keeps_a_minors_hhs_notice_and_silences_the_rest_until_reopened(
        settings: Settings, bus: Bus, mongo) -> None:
    clock = FakeClock(OPENED + timedelta(hours=1))
    case = f"case-{uuid.uuid4().hex[:8]}"
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("cases.opened", case_opened(case, minor=True, urgent_needs=[]))
        await bus.publish("referrals.events", accepted(case))
        await bus.publish("stabilization.recorded", milestone(case, "needs_assessed", urgent_needs=[]))
        await wait(bus, PROGRESSED, case, change="needs_assessed")
        await wait(bus, PROGRESSED, case, change="specialist_engaged")
        # Three topics, not ordered with each other: the interview is asked once the opening
        # (the languages, the needs) is in the plan too, or it is deferred for those as well.
        await wait(bus, PROGRESSED, case, change="case_opened")
        await bus.publish("interviews.requested", interview(case, "iv-1"))
        [deferred] = await wait(bus, DEFERRED, case)
        assert [r["rule"] for r in deferred["data"]["reasons"]] == ["stabilization_period"]
        closed = closure(case, "services_completed")
        await bus.publish("referrals.events", closed)
        await bus.publish("referrals.events", closed)  # delivered again
        await bus.publish("referrals.events", accepted(case))  # a marker behind them (a repeat: no change)

        async def marker_applied() -> dict[str, Any] | None:
            plan = await plan_of(mongo, settings, case)
            return plan if len(plan["seen"]) == 6 else None  # opened, accepted twice, assessed, interview, closed
        plan = await eventually(marker_applied)
        assert plan["state"]["closed"] is True and set(plan["state"]["timers"]) == {"hhs_reminder", "hhs_due"}

        clock.advance(hours=11)  # the reminder comes due; a closure does not end a legal duty
        await wait(bus, DUE, case)
        clock.advance(hours=13)  # the stabilization period is over, but the case is closed: nothing clears
        await wait(bus, OVERDUE, case)
        assert CLEARED not in [e["type"] for e in await case_events(bus, case)]

        await bus.publish("referrals.events", reopening(case))
        [cleared] = await wait(bus, CLEARED, case)  # re-armed from the current state: it clears at once
    assert cleared["data"]["after_deferral"] is True and cleared["data"]["interview_id"] == "iv-1"
    types = [e["type"] for e in await case_events(bus, case)]
    assert types.count(DUE) == 1 and types.count(OVERDUE) == 1 and types.count(CLEARED) == 1
    plan = await plan_of(mongo, settings, case)
    assert plan["state"]["closed"] is False and plan["state"]["timers"] == {}
    assert plan["seen"].count(events.seen_as(closed)) == 1


async def test_a_withdrawn_case_has_no_hhs_notice_and_a_reopening_brings_it_back(
        settings: Settings, bus: Bus, mongo) -> None:
    clock = FakeClock(OPENED + timedelta(hours=1))
    case = f"case-{uuid.uuid4().hex[:8]}"
    service = bootstrap(settings, clock=clock)
    async with service.app:
        await bus.publish("cases.opened", case_opened(case, minor=True))
        await wait(bus, PROGRESSED, case, change="case_opened")
        await bus.publish("referrals.events", closure(case, "withdrawn"))
        [closed] = await wait(bus, PROGRESSED, case, change="case_closed")
        assert closed["data"]["plan"]["hhs_notification"] == "not_required"
        assert (await plan_of(mongo, settings, case))["state"]["timers"] == {}
        clock.advance(hours=30)
        assert await service.sweep_timers() == 0
        assert not {DUE, OVERDUE} & {e["type"] for e in await case_events(bus, case)}
        await bus.publish("referrals.events", reopening(case))
        [overdue] = await wait(bus, OVERDUE, case)  # the deadline passed while it was closed
    assert overdue["data"]["due_at"] == iso(OPENED + timedelta(hours=24))


async def test_malformed_corrections_and_closures_are_dead_lettered_and_the_consumer_goes_on(
        settings: Settings, bus: Bus) -> None:
    case = f"case-{uuid.uuid4().hex[:8]}"
    bad_correction = case_corrected(case, revision=0)  # a correction's revision is at least 1
    no_flag = case_corrected(case)
    del no_flag["data"]["minor_revealed"]
    bad_closure = closure(case)
    bad_closure["data"]["reason"] = "bored"
    bad_reopening = reopening(case)
    bad_reopening["data"]["reopen_count"] = 0
    async with bootstrap(settings, clock=FakeClock(OPENED + timedelta(hours=1))).app:
        await bus.publish("cases.opened", case_opened(case))
        for event in (bad_correction, no_flag):
            await bus.publish("cases.opened", event)
        for event in (bad_closure, bad_reopening):
            await bus.publish("referrals.events", event)
        await bus.publish("cases.opened", case_corrected(case))
        await wait(bus, PROGRESSED, case, change="case_corrected")
        await bus.publish("referrals.events", closure(case, "withdrawn"))  # after it: two topics, no order
        await wait(bus, PROGRESSED, case, change="case_closed")
        opened_dlq = await bus.read("cases.opened.dlq", until=lambda r: len(r) >= 2, settle=0.5)
        referrals_dlq = await bus.read("referrals.events.dlq", until=lambda r: len(r) >= 2, settle=0.5)
    assert [json.loads(r.value)["id"] for r in opened_dlq] == [bad_correction["id"], no_flag["id"]]
    assert [json.loads(r.value)["id"] for r in referrals_dlq] == [bad_closure["id"], bad_reopening["id"]]
    for record in (*opened_dlq, *referrals_dlq):
        assert headers_of(record)["x-dlq-error-type"] == "ValidationError"


async def test_sigkill_after_a_correction_and_a_closure_are_written_publishes_each_once(
        settings: Settings, bus: Bus, mongo, proc_logs) -> None:
    """As a real process on the system clock: the encounter happened 30 hours ago, so the
    correction that reveals the minor makes the notice overdue at once."""
    case = f"case-{uuid.uuid4().hex[:8]}"
    occurred = datetime.now(UTC) - timedelta(hours=30)
    async with bootstrap(settings).app:
        await bus.publish("cases.opened", case_opened(case, occurred_at=iso(occurred), opened_at=iso(occurred)))
        await wait(bus, PROGRESSED, case, change="case_opened")
    correction = case_corrected(case, occurred_at=iso(occurred), at=datetime.now(UTC))
    closed = closure(case, "duplicate")
    service = ServiceProcess("stabilization", settings, proc_logs)
    try:
        for topic, event, type_ in (("cases.opened", correction, OVERDUE), ("referrals.events", closed, PROGRESSED)):
            service.start(failpoints="after-write")
            await service.ready()
            await bus.publish(topic, event)
            assert await service.wait_exit() == -9  # killed after the write, before the publish
            plan = await plan_of(mongo, settings, case)
            assert events.seen_as(event) in plan["seen"] and plan["outbox"][-1]["type"] == type_
            assert events.output_id(event, 0, by="stabilization") not in {
                e["id"] for e in await case_events(bus, case)}
            service.start(failpoints="")  # delivered again: applied already, published now
            await service.ready()
            await wait(bus, type_, case, **({"change": "case_closed"} if type_ == PROGRESSED else {}))
            service.stop()
    finally:
        service.stop()
    distinct = await case_events(bus, case)
    assert [e["type"] for e in distinct] == [PROGRESSED, OVERDUE, PROGRESSED]
    assert distinct[1]["id"] == events.output_id(correction, 0, by="stabilization")
    assert distinct[2]["id"] == events.output_id(closed, 0, by="stabilization")
    assert distinct[2]["data"]["plan"]["hhs_notification"] == "not_required"
    plan = await plan_of(mongo, settings, case)
    assert plan["seen"].count(events.seen_as(correction)) == 1 and plan["seen"].count(events.seen_as(closed)) == 1
    assert plan["state"]["closed"] is True and plan["state"]["closure_reason"] == "duplicate"
