"""Failing recipients on the real broker, FerretDB, SMTP sink and HTTP receiver: retries with
backoff on durable timers (the fake clock moves them), one delivery each, alerts at the end."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from services.notify.app import bootstrap
from shared.kit import FakeClock
from shared.webhooks import recipient_secret, signing_key, verify
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually
from tests.support.receivers import MailSink

SPEC, HOOKED, SUP = "spec-b", "spec-a", "sup-tx"


async def _roster(bus: Bus, hooks: str) -> None:
    await bus.ensure("roster.specialists")
    for entry in (n.member(SPEC), n.member(HOOKED, webhook=f"{hooks}/{HOOKED}"),
                  n.member(SUP, role="supervisor")):
        await bus.publish("roster.specialists", entry)


async def _log_shows(mongo, config, check) -> list[dict]:
    async def rows() -> list[dict] | None:
        found = await n.delivery_log(mongo, config)
        return found if found and check(found) else None
    return await eventually(rows, timeout=20)


async def test_smtp_down_for_a_while_then_each_mail_once(settings, bus: Bus, mongo, tmp_path) -> None:
    clock = FakeClock(n.T0)
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await _roster(bus, receiver.url)
        await sink.stop()  # the mail server is down
        async with bootstrap(config, clock=clock).app:
            for i in range(3):
                await bus.publish("referrals.events", n.cloud(n.assigned(f"case-{i}", SPEC)), key=f"case-{i}")
            for attempts in (1, 2):  # each attempt fails and is scheduled again, with backoff
                await _log_shows(mongo, config, lambda rows, a=attempts: len(rows) == 3 and all(
                    r["status"] == "retrying" and r["attempts"] == a for r in rows))
                clock.advance(seconds=config.notify.delivery.retry_base_seconds * 2 ** (attempts - 1) + 0.01)
            await _log_shows(mongo, config, lambda rows: all(r["status"] == "retrying" and r["attempts"] == 3
                                                             for r in rows))
            await sink.start()  # back up
            clock.advance(seconds=4.01)
            rows = await _log_shows(mongo, config, lambda rows: all(r["status"] == "sent" for r in rows))
            sent = await bus.events("notifications.events", count=3, settle=1.0)
        assert sorted(sink.per_message_id().values()) == [1, 1, 1]  # each mail once
        assert {m["To"] for m in sink.messages()} == {n.email_of(SPEC)}
    assert all(r["attempts"] == 4 and "connect" in r["last_error"].lower() for r in rows)
    assert [e["data"]["attempts"] for e in sent] == [4, 4, 4]


async def test_webhook_500_then_200_is_one_delivery_with_its_retry_logged(settings, bus: Bus, mongo,
                                                                         tmp_path) -> None:
    clock = FakeClock(n.T0)
    async with n.receivers(tmp_path, statuses=[500]) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await _roster(bus, receiver.url)
        async with bootstrap(config, clock=clock).app:
            await bus.publish("referrals.events", n.cloud(n.assigned("case-h", HOOKED)), key="case-h")
            await _log_shows(mongo, config, lambda rows: any(r["channel"] == "webhook" and r["status"] == "retrying"
                                                             for r in rows))
            assert len(sink.files()) == 1  # the mail did not wait for the webhook
            clock.advance(seconds=config.notify.delivery.retry_base_seconds + 0.01)
            rows = await _log_shows(mongo, config, lambda rows: all(r["status"] == "sent" for r in rows))
        first, second = receiver.requests
    hook = next(r for r in rows if r["channel"] == "webhook")
    assert hook["attempts"] == 2 and hook["last_error"] == "HTTP 500"
    assert first.body == second.body and first.headers["idempotency-key"] == second.headers["idempotency-key"]
    secret = recipient_secret(signing_key(config), HOOKED)
    for request in (first, second):
        verify(secret, request.body, request.headers["x-casework-signature"])


async def test_given_up_after_max_attempts_alerts_the_supervisors(settings, bus: Bus, mongo, tmp_path) -> None:
    clock = FakeClock(n.T0)
    async with n.receivers(tmp_path, statuses=[503, 503]) as (sink, receiver):
        config = n.notify_settings(settings, sink, delivery={"max_attempts": 2})
        await _roster(bus, receiver.url)
        async with bootstrap(config, clock=clock).app:
            await bus.publish("referrals.events", n.cloud(n.assigned("case-f", HOOKED)), key="case-f")
            await _log_shows(mongo, config, lambda rows: any(r["status"] == "retrying" for r in rows))
            clock.advance(seconds=config.notify.delivery.retry_base_seconds + 0.01)
            rows = await _log_shows(mongo, config, lambda rows: any(r["kind"] == "notification_failed"
                                                                    and r["status"] == "sent" for r in rows))
            events = await bus.events("notifications.events", count=3, settle=1.0)
        alerts = sink.to(n.email_of(SUP))
    failed = next(r for r in rows if r["channel"] == "webhook" and r["kind"] == "referral_assigned")
    assert failed["status"] == "failed" and failed["attempts"] == 2 and failed["last_error"] == "HTTP 503"
    [alert] = alerts
    assert alert["Subject"] == "Notification not delivered: case-f"
    text = alert.get_body(("plain",)).get_content()
    assert f"could not be delivered to {HOOKED} by webhook after 2 attempt(s): HTTP 503" in text
    by_type = sorted((e["type"].rsplit(".", 2)[-2], e["data"]["kind"], e["data"].get("channel")) for e in events)
    assert by_type == [("failed", "referral_assigned", "webhook"), ("sent", "notification_failed", "email"),
                       ("sent", "referral_assigned", "email")]


async def test_a_stuck_recipient_holds_up_nobody(settings, bus: Bus, mongo, tmp_path) -> None:
    clock = FakeClock(n.T0)
    async with n.receivers(tmp_path) as (sink, receiver):
        stuck = receiver.hold[f"/{HOOKED}"] = asyncio.Event()
        config = n.notify_settings(settings, sink)
        await _roster(bus, receiver.url)
        async with bootstrap(config, clock=clock).app:
            await bus.publish("referrals.events", n.cloud(n.assigned("case-s", HOOKED)), key="case-s")
            await eventually(lambda: receiver.requests)  # the webhook call hangs there
            for i in range(3):  # same partition key or not, the others go through meanwhile
                await bus.publish("referrals.events", n.cloud(n.assigned(f"case-o{i}", SPEC)), key="case-s")
            await eventually(lambda: len(sink.to(n.email_of(SPEC))) == 3)
            assert not stuck.is_set() and len(receiver.requests) == 1
            stuck.set()
            await _log_shows(mongo, config, lambda rows: len(rows) == 5 and all(r["status"] == "sent" for r in rows))
    assert clock.now() - n.T0 < timedelta(seconds=1)  # nothing needed a retry
    assert json.loads(receiver.requests[0].body)["case_id"] == "case-s"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_login_as_configured(settings, bus: Bus, mongo, tmp_path) -> None:
    clock = FakeClock(n.T0)
    sink = MailSink(tmp_path / "outbox", credentials=("notify", "s3cret"))
    await sink.start()
    try:
        config = n.notify_settings(settings, sink, smtp={"username": "notify", "password": "wrong"},
                                   delivery={"send_timeout_seconds": 1.0})
        await _roster(bus, "http://127.0.0.1:9")
        async with bootstrap(config, clock=clock).app:
            await bus.publish("referrals.events", n.cloud(n.assigned("case-l", SPEC)), key="case-l")
            [row] = await _log_shows(mongo, config, lambda rows: rows[0]["status"] == "retrying")
        assert sink.files() == [] and row["last_error"]  # the sink refuses to take it
        good = config.amended(notify={"smtp": {"password": "s3cret"}})
        async with bootstrap(good, clock=clock).app:  # the operator fixed the password
            clock.advance(seconds=config.notify.delivery.retry_base_seconds + 0.01)
            await eventually(lambda: sink.files())
    finally:
        await sink.stop()
    assert [m["To"] for m in sink.messages()] == [n.email_of(SPEC)]
