"""No PII in any notification (rule 7, P2), and nothing about certifications on the general
topic (P1, 8 U.S.C. 1367): on the real broker, FerretDB, SMTP sink and HTTP receiver."""

from __future__ import annotations

import json

from services.intake.app import bootstrap as intake
from services.notify.app import bootstrap as notify
from tests.support import events
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually

SPEC, SUP = "spec-a", "sup-tx"


def _leaks(text: str) -> list[str]:
    return [c for c in events.CANARIES if c in text]


async def test_no_canary_in_any_mail_webhook_event_record_or_log(settings, bus: Bus, mongo, tmp_path, logs) -> None:
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await bus.ensure("roster.specialists")
        await bus.publish("roster.specialists", n.member(SPEC, webhook=f"{receiver.url}/{SPEC}"))
        await bus.publish("roster.specialists", n.member(SUP, role="supervisor", regions=("*",),
                                                         webhook=f"{receiver.url}/{SUP}"))
        async with intake(config).app, notify(config).app:
            # The test encounters, canaries and all: two open cases, two cannot be read.
            for i in range(2):
                await bus.publish("encounters.reported", events.encounter(f"ENC-p{i}"))
            unreadable = events.encounter("ENC-p-bad")
            unreadable["data"]["person"]["languages"] = []  # invalid: dead-lettered, supervisors alerted
            await bus.publish("encounters.reported", unreadable)
            await bus.publish("encounters.reported", events.encode(events.encounter("ENC-p-raw"))[:-9],
                              key="ENC-p-raw")
            opened = await bus.events("cases.opened", count=2)
            # What the other services say about those cases, with hostile free text thrown in.
            hostile = [n.assigned(e["data"]["case_id"], SPEC) for e in opened] + [
                n.unassigned("case-x", reason=f"{events.CANARY_GIVEN} {events.CANARY_FAMILY}"),
                n.deferred(opened[0]["data"]["case_id"], SPEC).model_copy(update={"reasons": [
                    n.deferred("c").reasons[0].model_copy(update={"detail": events.CANARY_NARRATIVE})]}),
                n.unprocessable("alert-x").model_copy(update={"error": f"{events.CANARY_EMAIL} {events.CANARY_PHONE}"}),
            ]
            for payload in hostile:
                await bus.publish(payload.TOPIC, n.cloud(payload), key=payload.subject)
            # Mails: 2 assigned, unassigned, deferred (officer and specialist), 3 unprocessable;
            # webhooks: the same but the officer's.
            await eventually(lambda: len(sink.files()) >= 8 and len(receiver.requests) >= 7, timeout=30)
            published = await bus.events("notifications.events", count=15, settle=1.0)
        mails = [p.read_bytes().decode() for p in sink.files()]
        hooks = [r.body.decode() + json.dumps(r.headers) for r in receiver.requests]
    assert len(mails) == 8 and len(hooks) == 7 and len(published) == 15
    assert sum("Encounter could not be processed" in m for m in mails) == 3
    assert all("ENC-p-raw" not in m for m in mails)  # not even a hint could be read from it
    for text in [*mails, *hooks, *(json.dumps(e) for e in published), logs.getvalue()]:
        assert not _leaks(text), text[:2000]
    records = [d async for d in mongo[config.database("notify")]["notifications"].find()]
    assert len(records) == 7 and not _leaks(json.dumps(records, default=str))


async def test_certification_notifications_leave_nothing_on_the_general_topic(settings, bus: Bus, mongo,
                                                                            tmp_path) -> None:
    # The specialist's webhook refuses for good: the failure and its alert stay off the topic too.
    async with n.receivers(tmp_path, statuses=[200, 404, 404]) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await bus.ensure("roster.specialists")
        await bus.publish("roster.specialists", n.member(SPEC, webhook=f"{receiver.url}/{SPEC}"))
        await bus.publish("roster.specialists", n.member(SUP, role="supervisor"))
        async with notify(config).app:
            await bus.publish("referrals.events", n.cloud(n.assigned("case-t", SPEC)), key="case-t")
            await eventually(lambda: len(sink.files()) == 1 and len(receiver.requests) == 1)
            for payload in (n.expiring("case-t"), n.expired("case-t"), n.routed_to_hsi("case-t")):
                await bus.publish(payload.TOPIC, n.cloud(payload), key="case-t")
            # expiring, expired: specialist (mail) + agency supervisor; routed: supervisor; 2 alerts
            await eventually(lambda: len(sink.files()) == 1 + 5 + 2, timeout=30)
            published = await bus.events("notifications.events", count=2, settle=2.0)
        subjects = sorted(m["Subject"] for m in sink.messages())
    assert subjects.count("Notification not delivered: case-t") == 2
    assert "Certification expiring: case-t" in subjects and "Continued Presence routed to HSI: case-t" in subjects
    # Only the referral's deliveries: mail and webhook, and nothing that names a certification.
    assert sorted((e["data"]["kind"], e["data"]["channel"]) for e in published) == [
        ("referral_assigned", "email"), ("referral_assigned", "webhook")]
    raw = json.dumps(published).lower()
    assert "certif" not in raw and "visa" not in raw and "continued" not in raw
