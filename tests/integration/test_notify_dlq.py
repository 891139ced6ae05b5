"""Malformed and hostile input on every topic notify reads goes to ``<topic>.dlq`` unchanged,
with the error headers, and notify goes on (docs/design.md, Bad input); real broker and FerretDB."""

from __future__ import annotations

import json

from services.notify.app import bootstrap
from shared.kafka import headers_of
from tests.support import events
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually

SPEC = "spec-a"
NESTED = b'{"a":' * 20000 + b"1" + b"}" * 20000


def bad_input() -> dict[str, list[bytes | None]]:
    broken_referral = n.cloud(n.assigned("case-bad", SPEC))
    del broken_referral["data"]["ack_due_at"]
    bad_role = events.specialist("spec-z", role="boss")
    alert = n.cloud(n.unprocessable("alert-bad"))
    alert["data"]["region"] = "Texas, near the orchard"
    cert = n.cloud(n.expiring("case-bad"))
    cert["data"]["days_left"] = -3
    wrong_type = n.cloud(n.assigned("case-bad", SPEC)) | {"type": "casework.specialist.registered.v1"}
    return {
        "referrals.events": [b"not json", json.dumps(broken_referral).encode(), NESTED, None],
        "roster.specialists": [b"\x00\x01", json.dumps(bad_role).encode(), json.dumps(wrong_type).encode()],
        "intake.events": [json.dumps(alert).encode(), b'{"specversion": "1.0"}'],
        "stabilization.events": [b"[]"],
        "certifications.events": [json.dumps(cert).encode()],
        "cases.opened": [b"{"],
    }


async def test_bad_input_is_dead_lettered_and_notify_goes_on(settings, bus: Bus, mongo, tmp_path) -> None:
    bad = bad_input()
    async with n.receivers(tmp_path) as (sink, _):
        config = n.notify_settings(settings, sink)
        await bus.ensure("roster.specialists")
        await bus.publish("roster.specialists", n.member(SPEC))
        async with bootstrap(config).app:
            for topic, values in bad.items():
                for value in values:
                    await bus.publish(topic, value, key="case-bad")
            # A casework event of a type notify does not handle is skipped, not dead-lettered.
            await bus.publish("referrals.events", n.cloud(n.assigned("case-x", SPEC)) | {
                "type": "casework.referral.reviewed.v1"}, key="case-x")
            await bus.publish("roster.specialists", n.member("sup-new", role="supervisor"))
            contacts = mongo[config.database("notify")]["contacts"]
            await eventually(lambda: contacts.find_one({"_id": "sup-new"}))
            await bus.publish("referrals.events", n.cloud(n.assigned("case-ok", SPEC)), key="case-bad")
            await bus.publish("intake.events", n.cloud(n.unprocessable("alert-ok")), key="alert-ok")
            await eventually(lambda: len(sink.files()) == 2, timeout=30)
            dead = {topic: await _dead_letters(bus, topic, len(values)) for topic, values in bad.items()}
        subjects = sorted(m["Subject"] for m in sink.messages())
    # The good events behind the bad ones went through, the new supervisor included.
    assert subjects == ["Encounter could not be processed: ENC-alert-ok", "Referral assigned: case-ok"]
    assert sink.to(n.email_of("sup-new"))
    for topic, values in bad.items():
        assert [r.value for r in dead[topic]] == [v or b"" for v in values], topic  # unchanged
        for record in dead[topic]:
            headers = headers_of(record)
            assert headers["x-dlq-source"].startswith(config.topic(topic))
            assert headers["x-dlq-error-type"] and headers["x-dlq-attempts"] == "1"
            assert "orchard" not in headers["x-dlq-error"]  # errors name fields, never values


async def _dead_letters(bus: Bus, topic: str, count: int) -> list:
    return await bus.read(f"{topic}.dlq", until=lambda records: len(records) >= count)
