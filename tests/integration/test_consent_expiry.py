"""Consent expiry on the real broker and FerretDB with the fake clock (P2; docs/design.md,
Consent (P2)): intake reminds once a week before a written consent lapses and says once when
it lapses, across a redelivery and a restart, and never again after a restart once it has
lapsed; a revoked consent, one revoked before it came, and a verbal one say nothing; notify
mails the case's specialist once for each, naming the kind of recipient, never which,
across a redelivery and a restart, and dead-letters hostile records on ``consents.events``."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.app import bootstrap as intake
from services.intake.consents import COLLECTION, CaseConsents
from services.notify.app import bootstrap as notify
from shared.contracts.referrals import ReferralAccepted
from shared.kit import FakeClock
from tests.support import events
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EXPIRES = START + timedelta(days=30)
REMIND = EXPIRES - timedelta(days=7)  # CASEWORK_CONSENT_REMINDER_DAYS: 7
SECOND = timedelta(seconds=1)
BY = {"id": "spec-a", "role": "victim_specialist"}
SHELTER = "pr-safe-harbor"  # a shelter's id: what no mail may name
EXPIRING, LAPSED = "casework.consent.expiring.v1", "casework.consent.lapsed.v1"


def recorded(case_id: str, consent_id: str, *, form: str = "written", event_id: str | None = None,
             expires: datetime = EXPIRES) -> dict[str, Any]:
    data = {"case_id": case_id, "consent_id": consent_id, "recorded_by": BY, "scope": ["identity", "contact"],
            "recipient": {"kind": "service_provider", "id": SHELTER}, "form": form,
            "given_at": START.isoformat(), "expires_at": expires.isoformat()}
    return events.cloudevent("casework.consent.recorded.v1", data, subject=case_id, event_id=event_id,
                             source="casework/dashboard")


def revoked(case_id: str, consent_id: str) -> dict[str, Any]:
    data = {"case_id": case_id, "consent_id": consent_id, "revoked_by": BY, "at": START.isoformat()}
    return events.cloudevent("casework.consent.revoked.v1", data, subject=case_id, source="casework/dashboard")


async def file_of(mongo: Any, settings: Any, case_id: str) -> CaseConsents | None:
    doc = await mongo[settings.database("intake")][COLLECTION].find_one({"_id": case_id})
    return CaseConsents.model_validate(doc["state"]) if doc and doc.get("state") else None


async def consent_events(bus: Bus, count: int, *, settle: float = 1.5, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The distinct events on ``consents.events`` once ``count`` are out and ``settle`` seconds
    passed without more, or all there are after ``timeout`` (consumers de-duplicate on the id)."""
    def distinct(records: list[Any]) -> list[dict[str, Any]]:
        return list({e["id"]: e for e in (json.loads(r.value) for r in records if r.value)}.values())
    records = await bus.read("consents.events", until=lambda r: len(distinct(r)) >= count, settle=settle,
                             timeout=timeout)
    return distinct(records)


async def test_a_consent_is_reminded_of_once_and_lapses_once_across_a_redelivery_and_a_restart(
        settings, bus: Bus, mongo) -> None:
    clock = FakeClock(START)
    given = recorded("case-e", "c-1")
    async with intake(settings, clock=clock).app:
        await bus.publish("consents.recorded", given)
        await bus.publish("consents.recorded", given)  # the producer retried: the same event
        await bus.publish("consents.recorded", recorded("case-e", "c-rev"))
        await bus.publish("consents.revoked", revoked("case-e", "c-rev"))
        await bus.publish("consents.revoked", revoked("case-r", "c-early"))  # before its consent
        await bus.publish("consents.recorded", recorded("case-r", "c-early"))
        await bus.publish("consents.recorded", recorded("case-r", "c-verbal", form="verbal"))

        async def armed() -> bool:
            e, r = await file_of(mongo, settings, "case-e"), await file_of(mongo, settings, "case-r")
            return bool(e and r and "c-rev" in e.consents and "c-rev" in e.revoked
                        and {"c-early", "c-verbal"} <= set(r.consents))
        await eventually(armed, timeout=30)
        case_e, case_r = await file_of(mongo, settings, "case-e"), await file_of(mongo, settings, "case-r")
        assert case_e is not None and case_e.timers == {"c-1#remind": REMIND, "c-1#lapse": EXPIRES}
        assert case_r is not None and case_r.timers == {}  # revoked before it came; verbal
        assert await consent_events(bus, 1, timeout=1.5) == []  # nothing is due yet

        clock.set(REMIND + SECOND)
        [reminder] = await consent_events(bus, 1)
        assert reminder["type"] == EXPIRING and reminder["subject"] == "case-e"
        assert reminder["data"] == {
            "case_id": "case-e", "consent_id": "c-1", "recipient_kind": "service_provider", "recipient_id": SHELTER,
            "scope": ["contact", "identity"], "form": "written", "expires_at": "2026-12-31T09:00:00Z",
            "remind_at": "2026-12-24T09:00:00Z"}

        # The record again (the same event), and the same consent id under a new event, with
        # another expiry: neither arms anything again. A marker behind them on the case's key.
        await bus.publish("consents.recorded", given)
        await bus.publish("consents.recorded", recorded("case-e", "c-1", event_id=str(uuid.uuid4()),
                                                        expires=EXPIRES + timedelta(days=60)))
        await bus.publish("consents.recorded", recorded("case-e", "c-marker", form="verbal"))

        async def marked() -> bool:
            file = await file_of(mongo, settings, "case-e")
            return bool(file and "c-marker" in file.consents)
        await eventually(marked, timeout=30)
        case_e = await file_of(mongo, settings, "case-e")
        assert case_e is not None and case_e.timers == {"c-1#lapse": EXPIRES} and case_e.told == ["c-1#remind"]

    second = intake(settings, clock=clock)
    async with second.app:  # a restart: the reminder is not sent again
        assert len(await consent_events(bus, 2, timeout=2.0)) == 1  # a few sweeps: no second reminder
        clock.set(EXPIRES + SECOND)
        published = await consent_events(bus, 2, settle=2.0)
    assert [(e["type"], e["data"]["consent_id"]) for e in published] == [(EXPIRING, "c-1"), (LAPSED, "c-1")]
    assert published[1]["data"]["expired_at"] == "2026-12-31T09:00:00Z"
    case_e = await file_of(mongo, settings, "case-e")
    assert case_e is not None and case_e.timers == {} and case_e.told == ["c-1#remind", "c-1#lapse"]

    async with intake(settings, clock=clock).app:  # restarted after the lapse fired: nothing is told again
        clock.set(EXPIRES + timedelta(days=30))  # past anything a re-armed timer could wait for
        # A marker the sweeps answer at once: a consent recorded late, its reminder already due.
        await bus.publish("consents.recorded", recorded("case-e", "c-late", expires=EXPIRES + timedelta(days=31)))
        records = await bus.read("consents.events", until=lambda r: bool(told(r).get((EXPIRING, "c-late"))),
                                 settle=2.0)
    ids = told(records)
    [_late] = ids.pop((EXPIRING, "c-late"))  # told once, like c-1: each (type, consent) under one event id
    assert ids == {(EXPIRING, "c-1"): {reminder["id"]}, (LAPSED, "c-1"): {published[1]["id"]}}
    assert [i for i, copies in same_event(records).items() if len(copies) > 1] == []


def same_event(records: list[Any]) -> dict[str, set[str]]:
    """Each event id with the distinct events published under it: a republished outbox (at
    least once) repeats an event, never changes it."""
    copies: dict[str, set[str]] = {}
    for event in (json.loads(r.value) for r in records if r.value):
        copies.setdefault(event["id"], set()).add(json.dumps(event, sort_keys=True))
    return copies


def told(records: list[Any]) -> dict[tuple[str, str], set[str]]:
    """The distinct event ids on ``consents.events`` for each (type, consent id)."""
    ids: dict[tuple[str, str], set[str]] = {}
    for event in (json.loads(r.value) for r in records if r.value):
        ids.setdefault((event["type"], event["data"]["consent_id"]), set()).add(event["id"])
    return ids


def accepted(case_id: str, specialist_id: str) -> ReferralAccepted:
    """The referral service's word that the specialist holds the case (notify routes by it)."""
    return ReferralAccepted.model_validate({
        "case_id": case_id, "agency_id": "TX-DPS", "region": "US-TX", "priority": "normal", "escalations": 0,
        "referral_id": f"ref-{case_id}", "specialist_id": specialist_id, "assigned_at": START,
        "accepted_at": START, "ack_due_at": START}, strict=False)


async def test_the_case_specialist_is_mailed_once_before_and_once_when_a_consent_lapses(
        settings, bus: Bus, mongo, tmp_path) -> None:
    async with n.receivers(tmp_path) as (sink, _):
        config = n.notify_settings(settings, sink)
        await bus.ensure("roster.specialists", "referrals.events")
        await bus.publish("roster.specialists", n.member("spec-a"))
        await bus.publish("referrals.events", n.cloud(accepted("case-n", "spec-a")))
        clock = FakeClock(START)
        # Notify keeps its own clock: only intake's timers are under test.
        async with intake(config, clock=clock).app, notify(config, clock=FakeClock(START)).app:
            # Hostile records on consents.events: dead-lettered by notify, which goes on.
            nosy = n.cloud(n.consent_expiring("case-bad"))
            nosy["data"]["person_name"] = f"{events.CANARY_GIVEN} {events.CANARY_FAMILY}"  # no such field
            for value in (b"not json", json.dumps(nosy).encode()):
                await bus.publish("consents.events", value, key="case-bad")
            await bus.publish("consents.recorded", recorded("case-n", "c-1"))
            await bus.publish("consents.recorded", recorded("case-n", "c-gone"))
            await bus.publish("consents.revoked", revoked("case-n", "c-gone"))

            async def ready() -> bool:
                held = await mongo[config.database("notify")]["cases"].find_one({"_id": "case-n"})
                file = await file_of(mongo, config, "case-n")
                return bool(held and held.get("specialist_id") == "spec-a" and file
                            and set(file.timers) == {"c-1#remind", "c-1#lapse"} and "c-gone" in file.revoked)
            await eventually(ready, timeout=30)
            clock.set(REMIND + SECOND)
            await eventually(lambda: len(sink.files()) == 1, timeout=30)
            clock.set(EXPIRES + SECOND)
            await eventually(lambda: len(sink.files()) == 2, timeout=30)
            await asyncio.sleep(2.0)  # nothing more comes
            published = await bus.events("notifications.events", count=2, settle=0.5)
            dead = await bus.read("consents.events.dlq", until=lambda records: len(records) >= 2)
        mails = sink.to(n.email_of("spec-a"))
    assert [r.value for r in dead] == [b"not json", json.dumps(nosy).encode()]
    assert len(sink.files()) == 2 and sorted(sink.per_message_id().values()) == [1, 1]
    assert sorted(str(m["Subject"]) for m in mails) == ["Consent expiring: case-n", "Consent lapsed: case-n"]
    for mail in mails:
        text = mail.get_body(("plain",)).get_content()
        assert "Consent c-1 on case case-n, letting the service provider see the person's identity and their " \
               "contact details" in text and "https://casework.example.org/cases/case-n" in text
        assert SHELTER not in mail.as_string() and "c-gone" not in mail.as_string()
    [expiring] = [m for m in mails if "expiring" in str(m["Subject"])]
    assert "record a new written consent with them before 2026-12-31 09:00 UTC" in \
        expiring.get_body(("plain",)).get_content()
    assert sorted((e["data"]["kind"], e["data"]["recipient_id"]) for e in published) == [
        ("consent_expiring", "spec-a"), ("consent_lapsed", "spec-a")]


async def test_a_consent_notice_redelivered_after_a_crash_or_sent_while_notify_was_down_is_mailed_once(
        settings, bus: Bus, mongo, tmp_path, proc_logs) -> None:
    expiring, lapsed = n.cloud(n.consent_expiring("case-m")), n.cloud(n.consent_lapsed("case-m"))
    async with n.receivers(tmp_path) as (sink, _):
        # Short leases: what the killed process claimed is sent soon after the restart.
        config = n.notify_settings(settings, sink, delivery={"lease_seconds": 3.0})
        await bus.ensure("roster.specialists", "referrals.events", "consents.events")
        await bus.publish("roster.specialists", n.member("spec-a"))
        await bus.publish("referrals.events", n.cloud(accepted("case-m", "spec-a")))
        async with notify(config, clock=FakeClock(START)).app:  # notify learns who holds the case
            await eventually(lambda: holds(mongo, config, "case-m", "spec-a"), timeout=30)

        process = ServiceProcess("notify", config, proc_logs)
        try:
            process.start(failpoints="after-write")  # killed once the notice is written, before the commit
            await process.ready()
            await bus.publish("consents.events", expiring)
            assert await process.wait_exit(30) == -9
            written = await n.delivery_log(mongo, config)
            assert [r["notification_kind"] for r in written] == ["consent_expiring"] and sink.files() == []
            # While notify is down: the lapse, and the reminder again (the producer retried).
            await bus.publish("consents.events", lapsed)
            await bus.publish("consents.events", expiring)
            process.start(failpoints="")  # reads the reminder's record again, from the same offset
            await process.ready()
            await bus.publish("consents.events", n.cloud(n.consent_expiring("case-m", "c-marker")))
            await eventually(lambda: len(mailed(sink)) >= 3, timeout=60)
            await asyncio.sleep(2.0)  # nothing more comes
            published = await bus.events("notifications.events", count=3, settle=0.5)
        finally:
            process.stop()
    assert sorted(mailed(sink)) == [("Consent expiring: case-m", "c-1"), ("Consent expiring: case-m", "c-marker"),
                                    ("Consent lapsed: case-m", "c-1")], process.log()[-3000:]
    assert sorted(sink.per_message_id().values()) == [1, 1, 1]
    notices = {e["data"]["notification_id"]: e["data"]["kind"] for e in published}
    assert sorted(notices.values()) == ["consent_expiring", "consent_expiring", "consent_lapsed"]


async def holds(mongo: Any, settings: Any, case_id: str, specialist_id: str) -> bool:
    held = await mongo[settings.database("notify")]["cases"].find_one({"_id": case_id})
    return bool(held and held.get("specialist_id") == specialist_id)


def mailed(sink: Any) -> list[tuple[str, str]]:
    """Each mail filed, as (subject, the consent it names)."""
    found = []
    for mail in sink.messages():
        named = re.search(r"Consent (\S+) on case", mail.get_body(("plain",)).get_content())
        found.append((str(mail["Subject"]), named.group(1) if named else ""))
    return found
