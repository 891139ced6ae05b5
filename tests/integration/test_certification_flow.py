"""Certification on the real broker and FerretDB: requests, records, redelivery, rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.certification.app import bootstrap
from services.certification.state import Policy
from shared.kafka import headers_of
from shared.kit import FakeClock
from tests.support import events
from tests.support.certification import applied
from tests.support.kafka import Bus, eventually

START = datetime(2026, 8, 31, 12, 0, tzinfo=UTC)
SIGNED_AT = "2026-08-31T22:00:00-06:00"  # the agency's Aug 31; already Sep 1 in UTC


def unique(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consumers de-duplicate on the event id (at-least-once publishing, docs/design.md, The envelope)."""
    return list({e["id"]: e for e in published}.values())


def statuses(snapshot: dict[str, Any]) -> dict[str, str]:
    return {c["certification_id"]: c["status"] for c in snapshot["data"]["certifications"]}


def of_type(suffix: str) -> Any:
    return lambda e: e["type"] == f"casework.certification.{suffix}.v1"


async def test_requests_records_redelivery_and_rejections(settings, bus: Bus, mongo) -> None:
    clock = FakeClock(START)
    service = bootstrap(settings, clock=clock)
    cp = events.certification_requested("case-A", "cp.A/1", "continued_presence", agency_level="local")
    u = events.certification_requested("case-A", "u.A/1", "u_visa_certification")
    bad_signer = events.certification_recorded("case-A", "u.A/1", "signed", SIGNED_AT,
                                               signed_by=events.SIGNATORY | {"capacity": "other"})
    signed = events.certification_recorded("case-A", "u.A/1", "signed", SIGNED_AT, signed_by=events.SIGNATORY)
    ghost = events.certification_recorded("case-A", "ghost-1", "granted", "2026-08-31T10:00:00Z")
    async with service.app:
        for event in (cp, u, u):  # the U request twice: a redelivery under the same id
            await bus.publish("certifications.requested", event)
        for event in (bad_signer, signed, signed, ghost):
            await bus.publish("certifications.recorded", event)
        published = await bus.events("certifications.events", count=5, settle=2.0)
        await eventually(lambda: applied(mongo, settings, "case-A", ghost))
        clock.advance(Policy().orphan_grace)  # the ghost's request never comes
        [orphan] = await bus.events("certifications.events", count=1, where=lambda e: (
            of_type("update_rejected")(e) and e["data"]["reason"] == "unknown_certification"))
        # Records that overtook their request are applied with it: one snapshot, not two.
        [last] = await bus.events("certifications.status", count=1, where=lambda e: statuses(e) == {
            "cp.A/1": "requested", "u.A/1": "signed"})
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in unique(published):
        by_type.setdefault(event["type"].split(".")[2], []).append(event)
    assert sorted((k, len(v)) for k, v in by_type.items()) == [
        ("routed_to_hsi", 1), ("status_changed", 3), ("update_rejected", 1)]
    [routed] = by_type["routed_to_hsi"]
    assert routed["subject"] == "case-A" and routed["data"]["agency_level"] == "local"
    [refused] = by_type["update_rejected"]
    assert (refused["data"]["reason"], refused["data"]["rejected_event_id"]) == ("invalid_signatory", bad_signer["id"])
    [signed_change] = [e for e in by_type["status_changed"] if e["data"]["status"] == "signed"]
    signed_data = signed_change["data"]
    assert (signed_data["expires_on"], signed_data["kind"]) == ("2027-02-27", "u_visa_certification")
    assert orphan["data"]["rejected_event_id"] == ghost["id"] and "kind" not in orphan["data"]

    assert last["subject"] == "case-A" and last["data"]["version"] in (2, 3)
    doc = await mongo[settings.database("certification")]["certifications"].find_one({"_id": "case-A"})
    assert {events.seen_as(e) for e in (signed, u, ghost)} <= set(doc["seen"])
    assert doc["state"]["timers"] and not any("." in name for name in doc["state"]["timers"])
    assert doc["due_at"] == datetime(2027, 1, 28, 6, 0, tzinfo=UTC)  # the 30-day reminder, indexed


HOSTILE: list[tuple[str, bytes | None]] = [
    ("not json", b"\x00\xffnot json"),
    ("not a cloudevent", b'{"hello": "world"}'),
    ("unknown kind", json.dumps(events.certification_requested("case-H", "h-1", "h_visa")).encode()),
    ("escape codes", json.dumps(events.certification_requested("case-H", "\x1b[2J", "u_visa_certification")).encode()),
    ("wrong type on the topic", json.dumps(events.certification_recorded("case-H", "h-2", "signed", START)).encode()),
    ("no value", None),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
]


async def test_malformed_input_is_dead_lettered_and_the_consumer_continues(settings, bus: Bus) -> None:
    service = bootstrap(settings, clock=FakeClock(START))
    after = events.certification_requested("case-H", "cp-after", "continued_presence", agency_level="federal")
    bad_record = events.certification_recorded("case-H", "cp-after", "granted", "not a date")
    async with service.app:
        for _, value in HOSTILE:
            await bus.publish("certifications.requested", value, key="case-H")
        await bus.publish("certifications.recorded", bad_record)
        await bus.publish("certifications.requested", after)
        granted = events.certification_recorded("case-H", "cp-after", "granted", "2026-09-01T00:00:00Z")
        await bus.publish("certifications.recorded", granted)
        changes = await bus.events("certifications.events", count=2, where=of_type("status_changed"))
        dead = await bus.read("certifications.requested.dlq", until=lambda r: len(r) >= len(HOSTILE))
        dead_records = await bus.read("certifications.recorded.dlq", until=lambda r: len(r) >= 1)
    assert [c["data"]["status"] for c in changes] == ["requested", "granted"]  # it went on
    assert len(dead) == len(HOSTILE) and len(dead_records) == 1
    assert sorted(r.value or b"" for r in dead) == sorted(v or b"" for _, v in HOSTILE)  # unchanged
    for record in [*dead, *dead_records]:
        headers = headers_of(record)
        assert {"x-dlq-error-type", "x-dlq-error", "x-dlq-source", "x-dlq-attempts"} <= set(headers)
        assert headers["x-dlq-source"].startswith(settings.topic("certifications."))
    dead_record_headers = dict(dead_records[0].headers)
    assert b"data.at" in dead_record_headers["x-dlq-error"]
