"""Stabilization on the real broker and FerretDB: a deferred interview clears itself once
its last gate passes (rule 4), and neither redelivery nor a restart repeats an effect."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.stabilization.app import bootstrap
from shared.kafka import connection
from shared.kit import FakeClock
from shared.settings import Settings
from shared.topics import spec
from tests.support.events import cloudevent
from tests.support.kafka import Bus

OPENED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CONSUMED = ("cases.opened", "referrals.events", "stabilization.recorded", "interviews.requested", "services.events")
EVENTS = "stabilization.events"
DEFERRED, CLEARED = "casework.interview.deferred.v1", "casework.interview.cleared.v1"
PROGRESSED = "casework.stabilization.progressed.v1"


def case_opened(case_id: str, **overrides: Any) -> dict[str, Any]:
    data = {"case_id": case_id, "encounter_id": f"ENC-{case_id}", "agency_id": "TX-DPS", "agency_level": "state",
            "officer_id": "officer-17", "region": "US-TX", "occurred_at": OPENED.isoformat(),
            "opened_at": OPENED.isoformat(), "languages": ["es"], "interpreter_needed": False,
            "urgent_needs": ["shelter"], "priority": "high", "minor": False,
            "screening": {"categories": {"control": 1}, "indicator_count": 1}}
    return cloudevent("casework.case.opened.v1", data | overrides, subject=case_id, source="casework/intake")


def accepted(case_id: str) -> dict[str, Any]:
    data = {"case_id": case_id, "agency_id": "TX-DPS", "region": "US-TX", "priority": "high", "escalations": 0,
            "referral_id": f"ref-{case_id}", "specialist_id": "spec-1", "assigned_at": OPENED.isoformat(),
            "accepted_at": OPENED.isoformat(), "ack_due_at": (OPENED + timedelta(minutes=15)).isoformat()}
    return cloudevent("casework.referral.accepted.v1", data, subject=case_id, source="casework/referral")


def milestone(case_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    data = {"case_id": case_id, "recorded_by": {"id": "spec-1", "role": "victim_specialist"},
            "milestone": {"kind": kind, **fields}}
    return cloudevent("casework.stabilization.recorded.v1", data, subject=case_id, source="app/specialist")


def interview(case_id: str, interview_id: str, location: str = "neutral") -> dict[str, Any]:
    data = {"case_id": case_id, "interview_id": interview_id,
            "requested_by": {"officer_id": "officer-17", "agency_id": "TX-DPS", "email": "reyes@dps.example.gov"},
            "proposed_at": (OPENED + timedelta(days=3)).isoformat(), "location_type": location}
    return cloudevent("casework.interview.requested.v1", data, subject=case_id)


def of(type_: str, **match: Any) -> Callable[[dict[str, Any]], bool]:
    def where(event: dict[str, Any]) -> bool:
        return event["type"] == type_ and all(event["data"].get(k) == v for k, v in match.items())
    return where


async def case_events(bus: Bus, case_id: str, *,
                      until: Callable[[list[dict]], bool] | None = None) -> list[dict[str, Any]]:
    """The case's events in topic order, each CloudEvent once: the outbox may send an event
    again under the same id (at-least-once), and consumers de-duplicate on it (docs/design.md, The envelope)."""
    def distinct(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
        unique: dict[str, dict[str, Any]] = {}
        for event in (json.loads(r.value) for r in records if r.value):
            if event["data"]["case_id"] == case_id:
                unique.setdefault(event["id"], event)
        return list(unique.values())
    records = await bus.read(EVENTS, until=(lambda recs: until(distinct(recs))) if until else None,
                             timeout=30.0 if until else 3.0)
    return distinct(records)


async def wait(bus: Bus, type_: str, case_id: str, count: int = 1, **match: Any) -> list[dict[str, Any]]:
    where = of(type_, **match)
    found = [e for e in await case_events(bus, case_id, until=lambda es: sum(map(where, es)) >= count)
             if where(e)]
    assert len(found) >= count, f"{count} {type_} expected for {case_id}, found {len(found)}"
    return found


async def test_a_deferred_interview_clears_itself_once_when_its_last_gate_passes(settings: Settings, bus: Bus) -> None:
    clock = FakeClock(OPENED + timedelta(hours=1))
    case = f"case-{uuid.uuid4().hex[:8]}"
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("cases.opened", case_opened(case))
        await bus.publish("referrals.events", accepted(case))
        await wait(bus, PROGRESSED, case, change="case_opened")  # two topics: either may come first
        await wait(bus, PROGRESSED, case, change="specialist_engaged")
        await bus.publish("interviews.requested", interview(case, "iv-1"))
        [deferred] = await wait(bus, DEFERRED, case)
        assert [r["rule"] for r in deferred["data"]["reasons"]] == [
            "needs_not_assessed", "urgent_needs_open", "stabilization_period"]
        assert deferred["data"]["requested_by"]["email"] == "reyes@dps.example.gov"
        assert deferred["data"]["specialist_id"] == "spec-1" and deferred["subject"] == case

        assessed = milestone(case, "needs_assessed", urgent_needs=["medical"])
        for event in (assessed, milestone(case, "urgent_need_met", need="shelter"),
                      milestone(case, "urgent_need_met", need="medical")):
            await bus.publish("stabilization.recorded", event)
        [*_, last] = await wait(bus, PROGRESSED, case, count=5)
        assert last["data"]["plan"]["interview"] == {"interview_id": "iv-1", "status": "deferred",
                                                     "reasons": ["stabilization_period"]}
        clock.advance(hours=23)  # the stabilization period ends: the timer clears the deferral
        [cleared] = await wait(bus, CLEARED, case)
        assert cleared["data"]["after_deferral"] is True and cleared["data"]["interview_id"] == "iv-1"
        assert cleared["data"]["plan"]["interview"]["status"] == "cleared"

        # Redelivered (same id) and repeated (new id, same request): nothing new is said.
        await bus.publish("stabilization.recorded", assessed)
        await bus.publish("interviews.requested", interview(case, "iv-1"))
        await bus.publish("stabilization.recorded", milestone(case, "rights_explained"))  # a marker behind them
        await wait(bus, PROGRESSED, case, change="rights_explained")
        await bus.publish("interviews.requested", interview(case, "iv-2"))  # ordered behind iv-1's repeat
        await wait(bus, CLEARED, case, interview_id="iv-2")
    everything = await case_events(bus, case)
    types = [e["type"] for e in everything]
    assert types.count(DEFERRED) == 1 and types.count(CLEARED) == 2  # iv-1 once, iv-2 once
    versions = [e["data"]["plan"]["plan_version"] for e in everything]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


async def rewind(settings: Settings, service_name: str) -> None:
    """Move the service's committed offsets back to the start: every event is delivered again."""
    for topic in CONSUMED:
        name = settings.topic(topic)
        consumer = AIOKafkaConsumer(**connection(settings, "admin"), enable_auto_commit=False,
                                    group_id=f"{settings.topic_prefix}casework.{service_name}.{topic}")
        await consumer.start()
        try:
            partitions = [TopicPartition(name, p) for p in range(spec(topic).partitions)]
            consumer.assign(partitions)
            await consumer.commit({tp: 0 for tp in partitions})
        finally:
            await consumer.stop()


async def test_a_restart_that_reads_everything_again_repeats_no_effect(settings: Settings, bus: Bus, mongo) -> None:
    clock = FakeClock(OPENED + timedelta(hours=1))
    case = f"case-{uuid.uuid4().hex[:8]}"
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("interviews.requested", interview(case, "iv-1", location="police_station"))
        await wait(bus, DEFERRED, case)  # before the case opened here: a partial plan
        await bus.publish("cases.opened", case_opened(case, urgent_needs=[]))
        await bus.publish("referrals.events", accepted(case))
        await bus.publish("stabilization.recorded", milestone(case, "needs_assessed", urgent_needs=[]))
        await wait(bus, PROGRESSED, case, count=3)
    before = await case_events(bus, case)
    stored = await mongo[settings.database("stabilization")]["plans"].find_one({"_id": case})

    await rewind(settings, "stabilization")
    async with bootstrap(settings, clock=clock).app:  # a new process, the same database
        await bus.publish("stabilization.recorded", milestone(case, "rights_explained"))  # behind the replay
        await wait(bus, PROGRESSED, case, change="rights_explained")
    after = await case_events(bus, case)
    assert [e["id"] for e in after[:len(before)]] == [e["id"] for e in before]
    assert [e["data"]["change"] for e in after[len(before):]] == ["rights_explained"]
    again = await mongo[settings.database("stabilization")]["plans"].find_one({"_id": case})
    assert again["version"] == stored["version"] + 1
    assert again["state"]["interviews"][0]["reasons"] == ["location_not_neutral", "stabilization_period"]
