"""Support-service requests on the real broker and FerretDB: the referral service sends the
holder's request on, follows the provider's answers, escalates one left unanswered (by the
injected clock) and offers the next provider; a redelivery, a restart, a directory changed
while it was down, a SIGKILL between the write and the publish, and hostile records each
leave exactly one effect per request or answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.referral.app import bootstrap
from shared.kit import FakeClock
from shared.settings import Settings
from tests.support import events
from tests.support import referral as r
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

SERVICES = "services.events"
REQUESTED, RESPONDED, PROVIDERS = "services.requested", "services.responded", "providers.registered"
HOLDER = "sp-1"


def provider(provider_id: str, kinds: list[str], languages: list[str] | None = None, **overrides: Any) -> dict:
    data = {"provider_id": provider_id, "name": f"Provider {provider_id}", "kinds": kinds, "regions": ["US-TX"],
            "languages": languages or ["en"], "email": f"{provider_id}@example.org"} | overrides
    return events.cloudevent("casework.provider.registered.v1", data, subject=provider_id,
                             source="casework/providers")


def requested(case_id: str, request_id: str, provider_id: str, need: str = "shelter", by: str = HOLDER,
              event_id: str | None = None) -> dict:
    data = {"case_id": case_id, "service_request_id": request_id, "provider_id": provider_id, "need": need,
            "requested_by": r.actor(by), "share": ["identity"]}
    return events.cloudevent("casework.service.requested.v1", data, subject=case_id, event_id=event_id,
                             source="casework/dashboard")


def responded(case_id: str, request_id: str, provider_id: str, response: str, **extra: Any) -> dict:
    data = {"case_id": case_id, "service_request_id": request_id, "provider_id": provider_id,
            "response": response} | extra
    return events.cloudevent("casework.service.responded.v1", data, subject=case_id, source="provider/portal")


def kind(event: dict) -> str:
    return event["type"].removeprefix("casework.service.").removesuffix(".v1")


def about(request_id: str, kind_: str) -> Callable[[dict], bool]:
    return lambda event: event["data"].get("service_request_id") == request_id and kind(event) == kind_


async def answered(bus: Bus, request_id: str, kind_: str) -> dict:
    """The request's first event of this kind on ``services.events`` (waits for it)."""
    found = await bus.events(SERVICES, count=1, where=about(request_id, kind_))
    assert found, f"no {kind_} for {request_id}"
    return found[0]


async def case_events(bus: Bus, case_id: str, last: Callable[[dict], bool]) -> list[dict]:
    """The case's events on ``services.events`` in topic order, each id once (an outbox may
    send one again under its id, never saying something else under it): once ``last`` is
    out, and a second more for any after it."""
    def decoded(records: list[Any]) -> list[dict]:
        return [json.loads(record.value) for record in records if record.value]
    records = await bus.read(SERVICES, until=lambda recs: any(map(last, decoded(recs))), settle=1.0)
    unique: dict[str, dict] = {}
    for event in decoded(records):
        if event["subject"] == case_id:
            kept = unique.setdefault(event["id"], event)
            assert kept["data"] == event["data"], f"{event['id']} said two things"
    return list(unique.values())


def per_request(out: list[dict]) -> dict[str, list[str]]:
    """What became of each request, in topic order."""
    found: dict[str, list[str]] = {}
    for event in out:
        found.setdefault(event["data"]["service_request_id"], []).append(kind(event))
    return found


def at(moment: datetime) -> str:
    """A time as the events carry it."""
    return moment.isoformat().replace("+00:00", "Z")


async def held_case(bus: Bus, case_id: str) -> None:
    """A case accepted by the holder (what a service request needs)."""
    await bus.publish("cases.opened", r.case_opened(case_id))
    [assigned] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned", case_id))
    await bus.publish("referrals.responded", r.responded(case_id, assigned["data"]["referral_id"], HOLDER))
    await bus.events("referrals.events", count=1, where=r.is_kind("accepted", case_id))


async def directory(bus: Bus) -> None:
    await bus.ensure("roster.specialists", "providers.registered")
    await bus.publish("roster.specialists", r.victim_specialist(HOLDER))
    for entry in (provider("pr-shelter-en", ["shelter"]), provider("pr-shelter-es", ["shelter"], ["es"]),
                  provider("pr-legal", ["legal"])):
        await bus.publish("providers.registered", entry)


async def test_a_request_goes_out_and_follows_the_providers_answers(settings, bus: Bus) -> None:
    clock = FakeClock()
    await directory(bus)
    async with bootstrap(settings, clock=clock).app:
        await held_case(bus, "case-s")
        ask = requested("case-s", "sr-1", "pr-shelter-en")
        await bus.publish(REQUESTED, ask)
        await bus.publish(REQUESTED, ask)  # redelivered: the same event id
        await bus.publish(REQUESTED, requested("case-s", "sr-x", "pr-shelter-en", by="sp-2"))
        await bus.publish(REQUESTED, requested("case-s", "sr-y", "pr-legal", need="shelter"))
        await bus.publish(REQUESTED, b"{not json")  # hostile: dead-lettered, the rest goes on
        # A provider answers what it was sent (the two topics are not ordered with each other).
        await answered(bus, "sr-1", "request_sent")
        await bus.publish(RESPONDED, responded("case-s", "sr-1", "pr-shelter-en", "declined", reason="no_capacity"))
        await answered(bus, "sr-1", "declined")
        await bus.publish(REQUESTED, requested("case-s", "sr-2", "pr-shelter-es"))
        await answered(bus, "sr-2", "request_sent")
        await bus.publish(RESPONDED, responded("case-s", "sr-2", "pr-shelter-es", "accepted"))
        await bus.publish(RESPONDED, responded("case-s", "sr-2", "pr-shelter-es", "completed"))
        await bus.publish(REQUESTED, requested("case-s", "sr-3", "pr-legal", need="legal"))
        await answered(bus, "sr-2", "completed")
        await answered(bus, "sr-3", "request_sent")
        clock.advance(seconds=settings.referral.service_ack_sla_seconds)  # sr-3 left unanswered: escalated once
        out = await case_events(bus, "case-s", about("sr-3", "unanswered"))
    assert per_request(out) == {"sr-1": ["request_sent", "declined"], "sr-x": ["request_refused"],
                                "sr-y": ["request_refused"], "sr-2": ["request_sent", "accepted", "completed"],
                                "sr-3": ["request_sent", "unanswered"]}
    by_request = {(kind(e), e["data"]["service_request_id"]): e["data"] for e in out}
    assert by_request[("request_refused", "sr-x")]["refusal"] == "not_holder"
    assert by_request[("request_refused", "sr-y")]["refusal"] == "not_offered"
    assert by_request[("declined", "sr-1")]["next_provider_id"] == "pr-shelter-es"  # speaks the person's Spanish
    assert by_request[("unanswered", "sr-3")].get("next_provider_id") is None  # no other legal help here
    sent = by_request[("request_sent", "sr-1")]
    assert (sent["specialist_id"], sent["languages"], sent["share"]) == (HOLDER, ["es"], ["identity"])
    assert set(sent) >= {"respond_by", "requested_at", "agency_id", "region"}
    assert not [c for c in events.CANARIES if c in str(out)]
    dead = await bus.read("services.requested.dlq", until=lambda recs: len(recs) >= 1)
    assert len(dead) == 1


async def test_a_request_while_the_service_is_down_goes_out_once_after_the_restart(settings, bus: Bus) -> None:
    await directory(bus)
    async with bootstrap(settings).app:
        await held_case(bus, "case-r")
    await bus.publish("services.requested", requested("case-r", "sr-r", "pr-shelter-es"))
    async with bootstrap(settings).app:
        out = await bus.events(SERVICES, count=1, settle=2.0)
    assert [(kind(e), e["data"]["service_request_id"]) for e in out] == [("request_sent", "sr-r")]


async def test_a_redelivered_answer_is_applied_once(settings, bus: Bus, mongo) -> None:
    await directory(bus)
    accepted = responded("case-d", "sr-1", "pr-shelter-en", "accepted")
    completed = responded("case-d", "sr-1", "pr-shelter-en", "completed")
    declined = responded("case-d", "sr-2", "pr-shelter-es", "declined", reason="no_capacity")
    async with bootstrap(settings).app:
        await held_case(bus, "case-d")
        for request_id, provider_id in (("sr-1", "pr-shelter-en"), ("sr-2", "pr-shelter-es")):
            await bus.publish(REQUESTED, requested("case-d", request_id, provider_id))
            await answered(bus, request_id, "request_sent")
        for answer in (accepted, accepted, completed, completed, declined, declined):  # each delivered twice
            await bus.publish(RESPONDED, answer)
        # Behind them on the case's partition: an answer for a request never made, refused.
        await bus.publish(RESPONDED, responded("case-d", "sr-none", "pr-legal", "accepted"))
        out = await case_events(bus, "case-d", about("sr-none", "response_refused"))
    # A second completion or decline would have been refused as already ended: none was.
    assert per_request(out) == {"sr-1": ["request_sent", "accepted", "completed"],
                                "sr-2": ["request_sent", "declined"], "sr-none": ["response_refused"]}
    doc = await mongo[settings.database("referral")]["service_requests"].find_one({"_id": "case-d"})
    assert [doc["seen"].count(events.seen_as(a)) for a in (accepted, completed, declined)] == [1, 1, 1]


async def test_an_answer_while_the_service_is_down_is_applied_once_after_the_restart(settings, bus: Bus) -> None:
    await directory(bus)
    async with bootstrap(settings).app:
        await held_case(bus, "case-a")
        await bus.publish(REQUESTED, requested("case-a", "sr-1", "pr-shelter-en"))
        await answered(bus, "sr-1", "request_sent")
    await bus.publish(RESPONDED, responded("case-a", "sr-1", "pr-shelter-en", "accepted"))
    async with bootstrap(settings).app:  # a new process, the same consumer groups and database
        await answered(bus, "sr-1", "accepted")
        await bus.publish(RESPONDED, responded("case-a", "sr-1", "pr-shelter-en", "completed"))
        out = await case_events(bus, "case-a", about("sr-1", "completed"))
    assert per_request(out) == {"sr-1": ["request_sent", "accepted", "completed"]}


async def listed(mongo, settings: Settings, provider_id: str, **fields: Any) -> None:
    """Until the referral service's directory has these fields for the provider."""
    async def recorded() -> bool:
        doc = await mongo[settings.database("referral")]["providers"].find_one({"_id": provider_id}) or {}
        return all(doc.get(name) == value for name, value in fields.items())
    await eventually(recorded, timeout=30)


async def test_a_directory_change_while_the_service_is_down_is_honoured_after_the_restart(
        settings, bus: Bus, mongo) -> None:
    await directory(bus)
    await bus.publish(PROVIDERS, provider("pr-shelter-fr", ["shelter"], ["fr"]))
    async with bootstrap(settings).app:
        await held_case(bus, "case-p")
        await bus.publish(REQUESTED, requested("case-p", "sr-1", "pr-shelter-en"))
        await answered(bus, "sr-1", "request_sent")
    # While it is down the Spanish-speaking shelter stops taking people, the legal help leaves.
    await bus.publish(PROVIDERS, provider("pr-shelter-es", ["shelter"], ["es"], accepting=False))
    await bus.publish(PROVIDERS, None, key="pr-legal")
    async with bootstrap(settings).app:
        # The directory and the requests are two topics: a request is decided by the directory as read so far.
        await listed(mongo, settings, "pr-shelter-es", accepting=False)
        await listed(mongo, settings, "pr-legal", removed=True)
        await bus.publish(REQUESTED, requested("case-p", "sr-2", "pr-shelter-es"))
        await bus.publish(REQUESTED, requested("case-p", "sr-3", "pr-legal", need="legal"))
        await bus.publish(RESPONDED, responded("case-p", "sr-1", "pr-shelter-en", "declined"))
        refusals = [(await answered(bus, sr, "request_refused"))["data"]["refusal"] for sr in ("sr-2", "sr-3")]
        declined = await answered(bus, "sr-1", "declined")
    assert refusals == ["not_accepting", "unknown_provider"]
    # Not the one speaking the person's Spanish, who no longer accepts: the one still serving the region.
    assert declined["data"]["next_provider_id"] == "pr-shelter-fr"


async def test_an_unanswered_request_is_escalated_once_by_the_clock_also_across_a_restart(
        settings, bus: Bus) -> None:
    clock = FakeClock()
    within = timedelta(seconds=settings.referral.service_ack_sla_seconds)
    await directory(bus)
    async with bootstrap(settings, clock=clock).app:
        await held_case(bus, "case-u")
        await bus.publish(REQUESTED, requested("case-u", "sr-1", "pr-shelter-en"))
        sent = await answered(bus, "sr-1", "request_sent")
        assert sent["data"]["respond_by"] == at(clock.now() + within)
        clock.advance(within - timedelta(seconds=1))
        await asyncio.sleep(1.0)  # timer sweeps run meanwhile; nothing is due yet
        assert not await bus.events(SERVICES, where=about("sr-1", "unanswered"), timeout=0.5)
        clock.advance(seconds=1)
        late = await answered(bus, "sr-1", "unanswered")
    clock.advance(within)  # long past the deadline while nothing runs
    async with bootstrap(settings, clock=clock).app:
        # Behind the restart's sweeps: a second request, left unanswered in its turn.
        await bus.publish(REQUESTED, requested("case-u", "sr-2", "pr-shelter-es"))
        await answered(bus, "sr-2", "request_sent")
        clock.advance(within)
        out = await case_events(bus, "case-u", about("sr-2", "unanswered"))
    assert per_request(out) == {"sr-1": ["request_sent", "unanswered"], "sr-2": ["request_sent", "unanswered"]}
    assert late["data"]["escalated_at"] == sent["data"]["respond_by"]  # by the clock, when it came due
    assert late["data"]["next_provider_id"] == "pr-shelter-es"


async def test_sigkill_after_the_write_sends_the_request_once_after_restart(settings, bus: Bus, mongo,
                                                                              proc_logs) -> None:
    await directory(bus)
    referral = ServiceProcess("referral", settings, proc_logs)
    try:
        referral.start()
        await referral.ready()
        await held_case(bus, "case-k")
        referral.stop()
        referral.start(failpoints="after-write")
        await referral.ready()
        ask = requested("case-k", "sr-k", "pr-shelter-en")
        await bus.publish("services.requested", ask)
        assert await referral.wait_exit() == -9  # written, not yet published
        doc = await mongo[settings.database("referral")]["service_requests"].find_one({"_id": "case-k"})
        assert doc is not None and doc["outbox"] and "sr-k" in doc["state"]["requests"]
        assert await bus.read(SERVICES, timeout=1) == []
        referral.start(failpoints="")
        await referral.ready()
        out = await bus.events(SERVICES, count=1, settle=3.0)
    finally:
        referral.stop()
    [sent] = out
    assert kind(sent) == "request_sent" and sent["id"] == events.output_id(ask, 0, by="referral")
