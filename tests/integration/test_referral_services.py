"""Support-service requests on the real broker and FerretDB: the referral service sends the
holder's request on, follows the provider's answers, escalates one left unanswered and
offers the next provider; a redelivery, a restart, a SIGKILL between the write and the
publish, and hostile records each leave exactly one effect per request."""

from __future__ import annotations

from typing import Any

from services.referral.app import bootstrap
from tests.support import events
from tests.support import referral as r
from tests.support.kafka import Bus
from tests.support.procs import ServiceProcess

SERVICES = "services.events"
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
    settings = settings.amended(referral={"service_ack_sla_seconds": 3})
    await directory(bus)
    async with bootstrap(settings).app:
        await held_case(bus, "case-s")
        ask = requested("case-s", "sr-1", "pr-shelter-en")
        await bus.publish("services.requested", ask)
        await bus.publish("services.requested", ask)  # redelivered: the same event id
        await bus.publish("services.requested", requested("case-s", "sr-x", "pr-shelter-en", by="sp-2"))
        await bus.publish("services.requested", requested("case-s", "sr-y", "pr-legal", need="shelter"))
        await bus.publish("services.requested", b"{not json")  # hostile: dead-lettered, the rest goes on
        # A provider answers what it was sent (the two topics are not ordered with each other).
        await bus.events(SERVICES, count=3)
        await bus.publish("services.responded", responded("case-s", "sr-1", "pr-shelter-en", "declined",
                                                          reason="no_capacity"))
        await bus.events(SERVICES, count=4)
        await bus.publish("services.requested", requested("case-s", "sr-2", "pr-shelter-es"))
        await bus.events(SERVICES, count=5)
        await bus.publish("services.responded", responded("case-s", "sr-2", "pr-shelter-es", "accepted"))
        await bus.publish("services.responded", responded("case-s", "sr-2", "pr-shelter-es", "completed"))
        await bus.publish("services.requested", requested("case-s", "sr-3", "pr-legal", need="legal"))
        # sr-3 is left unanswered past its three seconds: escalated once
        out = await bus.events(SERVICES, count=9, settle=3.0, timeout=60)
    per_request: dict[str, list[str]] = {}
    for event in out:
        per_request.setdefault(event["data"]["service_request_id"], []).append(kind(event))
    assert per_request == {"sr-1": ["request_sent", "declined"], "sr-x": ["request_refused"],
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
