"""The status service's consent and service inputs on the real broker and FerretDB:
``consents.recorded``, ``consents.revoked``, ``consents.events`` (intake's reminder and
lapse) and ``services.events``. A redelivered record, and records published while the
service was down, are each folded once: one consent line and one service line on the
holder's case page, one timeline line per event, one snapshot version per bearing event on
``cases.status``."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.status.access import Role, Tokens, new_token
from services.status.app import Status, bootstrap
from shared.contracts.common import Payload
from shared.settings import Settings
from tests.support import status as ev
from tests.support.events import seen_as
from tests.support.kafka import Bus, eventually
from tests.support.notifications import consent_expiring, consent_lapsed, service_accepted, service_sent
from tests.support.procs import free_port
from tests.support.status import T0

HOLDER = "sp-1"
SHELTER, CLINIC = "pr-tx-safe-harbor", "pr-tx-lone-star-clinic"
LATER = T0 + timedelta(hours=1)
LAPSED_AT = T0 - timedelta(days=3)  # cs-2: given ten days before T0, for a week
TOKEN, PRINCIPAL = new_token("holder", Role.SPECIALIST, [], HOLDER)

Published = tuple[str, dict[str, Any]]  # a topic and the CloudEvent put on it


def published(payload: Payload, at: datetime = T0) -> Published:
    return payload.TOPIC, ev.cloudevent(payload, at=at)


def held(case: str) -> list[Published]:
    """Opened, offered to and accepted by the holder (who alone sees consents and providers)."""
    return [published(ev.case_opened(case)), published(ev.assigned(case, f"{case}-r1", HOLDER, at=T0)),
            published(ev.accepted(case, f"{case}-r1", HOLDER, assigned_at=T0, at=T0 + timedelta(minutes=5)))]


def story(case: str) -> dict[str, Published]:
    """cs-1 recorded, then revoked; cs-2 recorded, reminded of and lapsed; cs-3 revoked before
    its record (which never comes); cs-4 in force and reminded of; sr-1 sent and accepted,
    sr-2 sent. The last event on each topic is one that no test delivers twice."""
    events = {
        "cs-1 recorded": published(ev.consent_recorded(case, "cs-1", SHELTER)),
        "cs-2 recorded": published(ev.consent_recorded(case, "cs-2", SHELTER, at=LAPSED_AT - timedelta(days=7),
                                                       days=7)),
        "cs-4 recorded": published(ev.consent_recorded(case, "cs-4", CLINIC)),
        "cs-1 revoked": published(ev.consent_revoked(case, "cs-1", at=LATER), at=LATER),
        "cs-3 revoked": published(ev.consent_revoked(case, "cs-3", at=LATER), at=LATER),
        "cs-2 expiring": published(consent_expiring(case, "cs-2", recipient_id=SHELTER, expires_at=LAPSED_AT,
                                                    remind_at=LAPSED_AT - timedelta(days=2))),
        "cs-2 lapsed": published(consent_lapsed(case, "cs-2", recipient_id=SHELTER, expired_at=LAPSED_AT),
                                 at=LAPSED_AT),
        "cs-4 expiring": published(consent_expiring(case, "cs-4", recipient_id=CLINIC,
                                                    expires_at=T0 + timedelta(days=90), remind_at=T0)),
        "sr-1 sent": published(service_sent(case, SHELTER, HOLDER, request_id="sr-1", requested_at=T0)),
        "sr-1 accepted": published(service_accepted(case, SHELTER, HOLDER, request_id="sr-1", accepted_at=LATER)),
        "sr-2 sent": published(service_sent(case, CLINIC, HOLDER, request_id="sr-2", need="medical",
                                            requested_at=LATER)),
    }
    last = {topic: name for name, (topic, _) in events.items()}
    assert not set(last.values()) & TWICE  # behind each repeat, a later record on its partition
    return events


# Delivered twice (the same event id). A topic's records share the case's key, hence its
# partition: once a topic's last record is folded, every repeat before it was read.
TWICE = {"cs-1 recorded", "cs-1 revoked", "cs-2 expiring", "cs-2 lapsed", "sr-1 sent", "sr-1 accepted"}
REMINDERS = {"cs-2 expiring", "cs-4 expiring"}  # timeline lines only: no snapshot of their own


def service(settings: Settings) -> tuple[Status, int]:
    port = free_port()
    return bootstrap(settings, tokens=Tokens([PRINCIPAL]), dashboard_port=port), port


def delivered(events: dict[str, Published], twice: set[str]) -> list[Published]:
    """The events in order, those named in ``twice`` each followed by its repeat."""
    return [event for name, event in events.items() for _ in range(2 if name in twice else 1)]


async def publish(bus: Bus, events: list[Published]) -> None:
    for topic, event in events:
        await bus.publish(topic, event)


async def stored(mongo, settings: Settings, case: str) -> dict[str, Any]:
    return await mongo[settings.database("status")]["cases"].find_one({"_id": case}) or {}


async def folded(mongo, settings: Settings, case: str, events: list[Published]) -> None:
    """Until every one of ``events`` is in the case's document (each is remembered as seen)."""
    async def all_seen() -> bool:
        seen = set((await stored(mongo, settings, case)).get("seen", []))
        return all(seen_as(event) in seen for _, event in events)
    await eventually(all_seen, timeout=30)


async def open_held(bus: Bus, mongo, settings: Settings, case: str, opened: list[Published]) -> None:
    """The case opened first (a case's events before it publish no snapshot of their own), then held."""
    await publish(bus, opened[:1])
    await folded(mongo, settings, case, opened[:1])
    await publish(bus, opened[1:])


async def holder_page(port: int, case: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        page = await client.get(f"/cases/{case}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200, page.text
    return page.text


def rows(page: str, attribute: str, value: str) -> list[str]:
    """The case page's table rows for one consent or one service request."""
    return re.findall(rf'<tr data-{attribute}="{value}".*?</tr>', page, re.S)


async def snapshots(bus: Bus, case: str, version: int) -> list[dict[str, Any]]:
    """The case's snapshots on ``cases.status`` once ``version`` is out, each event id once
    (an outbox may send one again under its id), read a second longer for any beyond it."""
    def out(records: list[Any]) -> bool:
        return any(s["data"]["version"] == version for s in ev.snapshots(records).get(case, []))
    records = await bus.read("cases.status", until=out, settle=1.0)
    return list({s["id"]: s for s in ev.snapshots(records).get(case, [])}.values())


async def assert_folded_once(bus: Bus, mongo, settings: Settings, port: int, case: str,
                             events: list[Published]) -> None:
    """Each event folded once: remembered once, one timeline line and, if it bears on the
    snapshot, one version; one line per consent and per request on the holder's page."""
    doc = await stored(mongo, settings, case)
    distinct = {seen_as(event) for _, event in events}
    assert Counter(doc["seen"]) == Counter(distinct)
    timeline = [m["text"] for m in doc["state"]["timeline"]]
    assert len(timeline) == len(distinct) and len(set(timeline)) == len(timeline), timeline
    version = len(distinct) - len(REMINDERS)
    assert doc["state"]["version"] == version

    page = await holder_page(port, case)
    [revoked], [lapsed], [in_force] = (rows(page, "consent-id", c) for c in ("cs-1", "cs-2", "cs-4"))
    assert "<td>revoked</td>" in revoked and "<td>expired</td>" in lapsed and "<td>in force</td>" in in_force
    assert rows(page, "consent-id", "cs-3") == []  # revoked, never recorded: nothing to show
    [accepted], [requested] = rows(page, "service-request-id", "sr-1"), rows(page, "service-request-id", "sr-2")
    assert 'class="service-accepted"' in accepted and 'class="service-requested"' in requested

    published = await snapshots(bus, case, version)
    assert sorted(s["data"]["version"] for s in published) == list(range(1, version + 1))
    latest = max(published, key=lambda s: s["data"]["version"])
    assert [(s["service_request_id"], s["status"]) for s in latest["data"]["services"]] == [
        ("sr-1", "accepted"), ("sr-2", "requested")]


async def test_redelivered_consent_and_service_records_are_folded_once(settings: Settings, bus: Bus, mongo) -> None:
    case = "case-twice"
    opened, events = held(case), story(case)
    everything = [*opened, *events.values()]
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        await open_held(bus, mongo, settings, case, opened)
        await publish(bus, delivered(events, TWICE))
        await folded(mongo, settings, case, everything)
        await assert_folded_once(bus, mongo, settings, port, case, everything)


async def test_records_published_while_the_service_is_down_are_folded_once_after_the_restart(
        settings: Settings, bus: Bus, mongo) -> None:
    case = "case-down"
    opened, events = held(case), story(case)
    everything = [*opened, *events.values()]
    first = [events["cs-1 recorded"], events["sr-1 sent"]]
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        await open_held(bus, mongo, settings, case, opened)
        await publish(bus, first)
        await folded(mongo, settings, case, [*opened, *first])
    # While it is down: everything, those of TWICE twice; the two it had folded come again.
    await publish(bus, delivered(events, TWICE))
    again, port = service(settings)  # the same consumer groups and database: a restart
    async with again.app:
        await ev.ready(port)
        await folded(mongo, settings, case, everything)
        await assert_folded_once(bus, mongo, settings, port, case, everything)
