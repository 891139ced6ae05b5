"""Support-service notifications on the real broker, FerretDB, SMTP sink and HTTP receiver: a
request the referral service sent on reaches the provider once, by mail and signed webhook,
however often it is redelivered and across a restart; a decline reaches the specialist with the
next provider; hostile records on ``services.events`` and ``providers.registered`` are
dead-lettered and notify goes on. Nothing names the person."""

from __future__ import annotations

import json
from typing import Any

from services.notify.app import bootstrap
from shared import disclosure
from shared.contracts.common import Payload
from shared.kafka import headers_of
from shared.kit import FakeClock
from shared.webhooks import recipient_secret, signing_key, verify
from tests.support import events
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually

SPEC = "spec-a"
SHELTER, NEXT, LATE = "pr-shelter", "pr-shelter-2", "pr-late"


def provider(provider_id: str, *, webhook: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A directory entry as ``casework providers load`` publishes it."""
    data = {"provider_id": provider_id, "name": f"Provider {provider_id}", "kinds": ["shelter"],
            "regions": ["US-TX"], "languages": ["es"], "email": f"{provider_id}@providers.example.org"}
    if webhook:
        data["webhook_url"] = webhook
    return events.cloudevent("casework.provider.registered.v1", data | overrides, subject=provider_id,
                             source="casework/providers")


def from_referral(payload: Payload, event_id: str | None = None) -> dict[str, Any]:
    """A ``services.events`` event as the referral service publishes it."""
    return events.cloudevent(payload.TYPE, payload.model_dump(mode="json"), subject=payload.subject,
                             event_id=event_id, source="casework/referral")


def mailbox(provider_id: str) -> str:
    return f"{provider_id}@providers.example.org"


async def _directories(bus: Bus, hooks: str) -> None:
    await bus.ensure("roster.specialists", "providers.registered")
    await bus.publish("roster.specialists", n.member(SPEC))
    # A name notify keeps and never sends: a canary shows it never travels.
    await bus.publish("providers.registered", provider(SHELTER, webhook=f"{hooks}/{SHELTER}",
                                                       name=f"{events.CANARY_FAMILY} House"))
    await bus.publish("providers.registered", provider(NEXT))


async def test_a_request_reaches_the_provider_once_and_a_decline_reaches_the_specialist(
        settings, bus: Bus, mongo, tmp_path, logs) -> None:
    sent = from_referral(n.service_sent("case-s", SHELTER, SPEC, request_id="sr-1"))
    declined = from_referral(n.service_declined("case-s", SHELTER, SPEC,
                                                service_request_id="sr-1", next_provider_id=NEXT))
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await _directories(bus, receiver.url)
        async with bootstrap(config, clock=FakeClock(n.T0)).app:
            await bus.publish("services.events", sent)
            await bus.publish("services.events", sent)  # the producer retried: the same event
            await eventually(lambda: sink.files() and receiver.requests)
        async with bootstrap(config, clock=FakeClock(n.T0)).app:  # a restart, then the same event again
            await bus.publish("services.events", sent)
            await bus.publish("services.events", declined)
            await eventually(lambda: len(sink.files()) == 2, timeout=30)
            published = await bus.events("notifications.events", count=3, settle=1.5)
        messages, requests = sink.messages(), receiver.requests
        rows = await n.delivery_log(mongo, config)
    assert sorted(sink.per_message_id().values()) == [1, 1] and len(requests) == 1
    [request] = sink.to(mailbox(SHELTER))
    [decline] = sink.to(n.email_of(SPEC))
    # The provider: the case, the request, the need, the languages, the deadline and how to answer.
    assert request["Subject"] == "Service requested: case-s"
    text = request.get_body(("plain",)).get_content()
    for fact in ("case-s", "sr-1", "shelter", "es, en", "2026-01-05 13:00 UTC", "casework.service.responded.v1",
                 "services.responded", "accepted", "declined", "completed"):
        assert fact in text, fact
    # No link into the case system; the disclosure link of this request and provider, the
    # same in the mail and the webhook (what it shows is intake's decision, under consent).
    link = disclosure.link("https://casework.example.org", disclosure.disclosure_key(config), "sr-1", SHELTER)
    assert "https://casework.example.org/cases" not in request.as_string() and link in text
    # Its webhook: signed with the provider's own secret, keyed like the mail's Message-ID.
    [hook] = requests
    assert hook.path == f"/{SHELTER}"
    verify(recipient_secret(signing_key(config), SHELTER), hook.body, hook.headers["x-casework-signature"])
    body = json.loads(hook.body)
    assert request["Message-ID"].startswith(f"<{body['id']}.") and hook.headers["idempotency-key"].startswith(
        f"{body['id']}:")
    assert body["kind"] == "service_requested" and body["link"] is None and body["disclosure_link"] == link
    assert body["facts"] == {"service_request_id": "sr-1", "provider_id": SHELTER, "need": "shelter",
                             "languages": ["es", "en"]}  # not what the specialist asked to share
    # The specialist: the decline, its reason, the next provider, and the case link.
    assert decline["Subject"] == "Service request declined: case-s"
    decline_text = decline.get_body(("plain",)).get_content()
    assert f"Provider {SHELTER} declined service request sr-1" in decline_text and "no capacity" in decline_text
    assert NEXT in decline_text and "https://casework.example.org/cases/case-s" in decline_text
    # The delivery log and notifications.events: each delivery once, the provider by its role.
    assert sorted((r["notification_kind"], r["recipient_id"], r["channel"], r["status"], r["attempts"])
                  for r in rows) == [("service_declined", SPEC, "email", "sent", 1),
                                     ("service_requested", SHELTER, "email", "sent", 1),
                                     ("service_requested", SHELTER, "webhook", "sent", 1)]
    assert sorted((e["data"]["kind"], e["data"]["recipient_id"], e["data"]["recipient_role"], e["data"]["channel"])
                  for e in published) == [("service_declined", SPEC, "victim_specialist", "email"),
                                          ("service_requested", SHELTER, "service_provider", "email"),
                                          ("service_requested", SHELTER, "service_provider", "webhook")]
    for part in [*(m.as_string() for m in messages), hook.body.decode(), json.dumps(published), logs.getvalue()]:
        assert not [c for c in events.CANARIES if c in part], part[:2000]
    assert disclosure.PREFIX not in json.dumps(published) + logs.getvalue()  # the capability: mail and hook only


async def test_hostile_records_are_dead_lettered_and_notify_goes_on(settings, bus: Bus, tmp_path) -> None:
    missing = from_referral(n.service_sent("case-bad", SHELTER))
    del missing["data"]["respond_by"]
    nosy = from_referral(n.service_sent("case-bad", SHELTER))
    nosy["data"]["person_name"] = f"{events.CANARY_GIVEN} {events.CANARY_FAMILY}"  # no such field: refused
    bad = {
        "services.events": [b"not json", json.dumps(missing).encode(), json.dumps(nosy).encode(), None],
        "providers.registered": [b"\x00\x01", json.dumps(provider("pr-bad", email="not an address")).encode()],
    }
    async with n.receivers(tmp_path) as (sink, _):
        config = n.notify_settings(settings, sink)
        await _directories(bus, "http://127.0.0.1:9")  # the webhook is not the point here
        async with bootstrap(config).app:  # the real clock: a mail to a provider not on file yet is retried
            for topic, values in bad.items():
                for value in values:
                    await bus.publish(topic, value, key="case-bad" if topic == "services.events" else "pr-bad")
            # Behind them: a request to a provider registered only now (its address is looked up again
            # on the next attempt), and a missed answer.
            await bus.publish("services.events", from_referral(n.service_sent("case-ok", LATE)))
            await bus.publish("providers.registered", provider(LATE))
            await bus.publish("services.events", from_referral(n.service_unanswered("case-ok", NEXT)))
            await eventually(lambda: sink.to(mailbox(LATE)) and sink.to(n.email_of(SPEC)), timeout=30)
            dead = {topic: await _dead_letters(bus, topic, len(values)) for topic, values in bad.items()}
    assert [str(m["Subject"]) for m in sink.to(mailbox(LATE))] == ["Service requested: case-ok"]
    assert [str(m["Subject"]) for m in sink.to(n.email_of(SPEC))] == ["Service request unanswered: case-ok"]
    assert not [m for m in sink.messages() if "case-bad" in str(m["Subject"]) or str(m["To"]) == mailbox("pr-bad")]
    for topic, values in bad.items():
        assert [r.value for r in dead[topic]] == [v or b"" for v in values], topic  # unchanged
        for record in dead[topic]:
            headers = headers_of(record)
            assert headers["x-dlq-source"].startswith(config.topic(topic)) and headers["x-dlq-error-type"]
            assert events.CANARY_GIVEN not in headers["x-dlq-error"]  # errors name fields, never values


async def _dead_letters(bus: Bus, topic: str, count: int) -> list:
    return await bus.read(f"{topic}.dlq", until=lambda records: len(records) >= count)
