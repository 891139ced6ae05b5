"""Notify on the real broker, FerretDB, SMTP sink and HTTP receiver: who gets what."""

from __future__ import annotations

import json

import pytest

from services.notify.app import bootstrap
from services.notify.content import TITLES
from services.notify.kinds import Kind
from shared.kit import FakeClock
from shared.webhooks import SignatureError, new_signing_key, parse, recipient_secret, verify
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually

# The roster: who covers what (docs/design.md, Notifications).
SPEC_A, SPEC_B = "spec-a", "spec-b"  # victim specialists in Texas; A also takes webhooks
SUP_TX, SUP_CA, SUP_ANY, SUP_OFF = "sup-tx", "sup-ca", "sup-any", "sup-off"


def roster(hooks: str) -> list[dict]:
    return [
        n.member(SPEC_A, webhook=f"{hooks}/{SPEC_A}"),
        n.member(SPEC_B),
        n.member(SUP_TX, role="supervisor", webhook=f"{hooks}/{SUP_TX}"),
        n.member(SUP_CA, role="supervisor", regions=("US-CA",), agency="CA-DOJ"),
        n.member(SUP_ANY, role="supervisor", regions=("*",), agency="HSI"),
        n.member(SUP_OFF, role="supervisor", on_duty=False),
    ]


# name -> (kind, event, whose mailboxes get it, whose webhooks are called)
def scenario() -> dict[str, tuple]:
    return {
        "assigned": ("referral_assigned", n.assigned("case-1", SPEC_A), {SPEC_A}, {SPEC_A}),
        "escalated": ("referral_escalated", n.escalated("case-2"), {SUP_TX, SUP_ANY}, {SUP_TX}),
        "escalated_all": ("referral_escalated", n.escalated("case-3", scope="all", escalations=3),
                          {SUP_TX, SUP_CA, SUP_ANY}, {SUP_TX}),
        "unassigned": ("case_unassigned", n.unassigned("case-4", region="US-CA"), {SUP_CA, SUP_ANY}, set()),
        "deferred": ("interview_deferred", n.deferred("case-5", SPEC_B), {"officer", SPEC_B}, set()),
        # No specialist on the event: the case's holder, known from the referral.
        "cleared": ("interview_cleared", n.cleared("case-1"), {"officer", SPEC_A}, {SPEC_A}),
        "hhs_due": ("hhs_notification_due", n.hhs_due("case-7", SPEC_B), {SPEC_B, SUP_TX, SUP_ANY}, {SUP_TX}),
        "hhs_overdue": ("hhs_notification_overdue", n.hhs_due("case-8", SPEC_B, overdue=True),
                        {SPEC_B, SUP_TX, SUP_ANY}, {SUP_TX}),
        # Certifications: the case's specialist and the agency's supervisors, nobody else (P1).
        "expiring": ("certification_expiring", n.expiring("case-1"), {SPEC_A, SUP_TX}, {SPEC_A, SUP_TX}),
        "expired": ("certification_expired", n.expired("case-1"), {SPEC_A, SUP_TX}, {SPEC_A, SUP_TX}),
        "hsi": ("continued_presence_routed_to_hsi", n.routed_to_hsi("case-9", agency="CA-DOJ"), {SUP_CA}, set()),
        "unprocessable": ("encounter_unprocessable", n.unprocessable("alert-1", region="US-CA"),
                          {SUP_CA, SUP_ANY}, set()),
        # No readable region: every on-duty supervisor (a person may be waiting).
        "unreadable": ("encounter_unprocessable", n.unprocessable("alert-2", region=None),
                       {SUP_TX, SUP_CA, SUP_ANY}, {SUP_TX}),
    }


def box(who: str) -> str:
    return n.OFFICER_EMAIL if who == "officer" else n.email_of(who)


async def test_each_kind_reaches_exactly_its_recipients(settings, bus: Bus, tmp_path) -> None:
    cases = scenario()
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await bus.ensure("roster.specialists")
        for entry in roster(receiver.url):
            await bus.publish("roster.specialists", entry)
        service = bootstrap(config, clock=FakeClock(n.T0))
        async with service.app:
            for kind, payload, *_ in cases.values():
                await bus.publish(payload.TOPIC, n.cloud(payload), key=payload.subject)
                if kind == "referral_assigned":  # first: case-1's holder is known after it
                    await eventually(lambda: sink.files())
            mails = sum(len(to) for *_, to, _ in cases.values())
            hooks = sum(len(h) for *_, h in cases.values())
            general = sum(len(to) + len(h) for k, _, to, h in cases.values() if not k.startswith(("cert", "cont")))
            await eventually(lambda: len(sink.files()) >= mails and len(receiver.requests) >= hooks, timeout=30)
            published = await bus.events("notifications.events", count=general, settle=1.0)
        messages, requests = sink.messages(), receiver.requests
        assert len(messages) == mails and len(requests) == hooks  # nobody else, nothing twice
        for name, (kind, payload, to, hooked) in cases.items():
            reference = getattr(payload, "case_id", None) or payload.encounter_id
            subject = f"{TITLES[Kind(kind)]}: {reference}"
            assert {m["To"] for m in messages if m["Subject"] == subject} == {box(w) for w in to}, name
            called = {r.path.rsplit("/", 1)[-1] for r in requests
                      if (b := json.loads(r.body))["kind"] == kind and b["reference"] == reference}
            assert called == hooked, name
    assert len(published) == general
    assert all(e["type"] == "casework.notification.sent.v1" for e in published)
    # Certification notifications leave nothing on the general topic (P1).
    assert {e["data"]["kind"] for e in published if e["data"].get("case_id") in ("case-1", "case-9")} == {
        "referral_assigned", "interview_cleared"}


async def test_mail_and_webhook_content(settings, bus: Bus, tmp_path) -> None:
    """With the signing key in rotation: the webhook verifies with the new secret and the previous one."""
    new_key, previous_key = new_signing_key(), new_signing_key()
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink).amended(
            notify={"webhook_signing_key": new_key, "webhook_previous_signing_key": previous_key})
        await bus.ensure("roster.specialists")
        await bus.publish("roster.specialists", n.member(SPEC_A, webhook=f"{receiver.url}/hooks/a"))
        service = bootstrap(config, clock=FakeClock(n.T0))
        event = n.cloud(n.assigned("case-42", SPEC_A))
        async with service.app:
            await bus.publish("referrals.events", event, key="case-42")
            await eventually(lambda: sink.files() and receiver.requests)
        [mail], [hook] = sink.messages(), receiver.requests
    # The mail: the case, what to do, the deadline, the link (docs/design.md, Notifications), as text and HTML.
    assert mail["Subject"] == "Referral assigned: case-42"
    assert mail["To"] == n.email_of(SPEC_A) and mail["From"] == config.notify.smtp.sender
    notification_id = json.loads(hook.body)["id"]
    assert mail["Message-ID"].startswith(f"<{notification_id}.") and mail["Message-ID"].endswith("@casework>")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for part in (text, html):
        assert "case-42" in part and "Accept or decline referral ref-case-42" in part
        assert "2026-01-05 09:05 UTC" in part  # ack_due_at
        assert "https://casework.example.org/cases/case-42" in part
        assert "arrange an interpreter" in part  # language_match is false
    # The webhook: signed with this recipient's secret under both keys, keyed for de-duplication.
    signed = hook.headers["x-casework-signature"]
    assert len(parse(signed)[1]) == 2
    for key in (new_key, previous_key):  # a receiver that switched already, and one that has not yet
        verify(recipient_secret(key, SPEC_A), hook.body, signed)
    for wrong in (recipient_secret(new_key, SPEC_B), recipient_secret(new_signing_key(), SPEC_A)):
        with pytest.raises(SignatureError):
            verify(wrong, hook.body, signed)
    assert hook.headers["idempotency-key"].startswith(f"{notification_id}:")
    assert hook.headers["content-type"] == "application/json"
    body = json.loads(hook.body)
    assert body["kind"] == "referral_assigned" and body["case_id"] == "case-42"
    assert body["deadline"] == "2026-01-05T09:05:00+00:00"
    assert body["link"] == "https://casework.example.org/cases/case-42"
    assert body["facts"]["referral_id"] == "ref-case-42"


async def test_redelivered_or_restarted_nothing_is_sent_twice(settings, bus: Bus, mongo, tmp_path) -> None:
    event = n.cloud(n.assigned("case-r", SPEC_A))
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await bus.ensure("roster.specialists")
        await bus.publish("roster.specialists", n.member(SPEC_A, webhook=f"{receiver.url}/{SPEC_A}"))
        async with bootstrap(config, clock=FakeClock(n.T0)).app:
            await bus.publish("referrals.events", event, key="case-r")
            await bus.publish("referrals.events", event, key="case-r")  # the producer retried
            await eventually(lambda: sink.files() and receiver.requests)
        async with bootstrap(config, clock=FakeClock(n.T0)).app:  # a restart, then the same event again
            await bus.publish("referrals.events", event, key="case-r")
            await bus.publish("referrals.events", n.cloud(n.assigned("case-s", SPEC_A)), key="case-r")
            await eventually(lambda: len(sink.files()) == 2 and len(receiver.requests) == 2)
        rows = await n.delivery_log(mongo, config)
    assert sorted(sink.per_message_id().values()) == [1, 1]
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 2
    assert sorted((r["case_id"], r["channel"], r["status"], r["attempts"]) for r in rows) == [
        ("case-r", "email", "sent", 1), ("case-r", "webhook", "sent", 1),
        ("case-s", "email", "sent", 1), ("case-s", "webhook", "sent", 1)]
