"""Malformed and hostile encounters are dead-lettered and alerted; nothing else is lost."""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from services.intake.app import bootstrap
from shared.kafka import headers_of
from tests.support import events
from tests.support.kafka import Bus


def hostile(name: str) -> bytes:
    base = events.encounter(f"ENC-{name}")
    data = base["data"]
    match name:
        case "not-json":
            return b"\x00\x01 this is { not json"
        case "not-cloudevent":
            return json.dumps({"hello": "world", "encounter_id": "ENC-x"}).encode()
        case "wrong-types":
            data["person"]["interpreter_needed"] = "yes"
            data["indicators"] = "control.documents_held_by_another"
        case "huge":
            data["narrative"] = "x" * (1024 * 1024 + 10)
        case "control-chars":
            data["person"]["given_name"] = "Ze\x1b]0;pwned\x07phyrine"
        case "huge-number":
            data["person"]["age_estimate"] = 10**400
        case "deep-nesting":
            return b'{"specversion":"1.0","data":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        case "null-value":
            return b""
    return events.encode(base)


HOSTILE = ["not-json", "not-cloudevent", "wrong-types", "huge", "control-chars", "huge-number",
           "deep-nesting", "null-value"]


async def test_hostile_input_is_dead_lettered_and_later_encounters_still_open(settings, bus: Bus) -> None:
    service = bootstrap(settings)
    async with service.app:
        await bus.publish("encounters.reported", events.encounter("ENC-before"))
        for name in HOSTILE:
            await bus.publish("encounters.reported", hostile(name), key=f"ENC-{name}")
        await bus.publish("encounters.reported", events.encounter("ENC-after"))
        opened = await bus.events("cases.opened", count=2)
        dead = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= len(HOSTILE))
        alerts = await bus.events("intake.events", count=len(HOSTILE))
    assert sorted(e["data"]["encounter_id"] for e in opened) == ["ENC-after", "ENC-before"]
    assert sorted(r.key.decode() for r in dead) == sorted(f"ENC-{n}" for n in HOSTILE)
    for record in dead:
        headers = headers_of(record)
        assert {"x-dlq-error-type", "x-dlq-error", "x-dlq-source", "x-dlq-attempts"} <= set(headers)
        assert "Zephyrine" not in headers["x-dlq-error"]
    huge = next(r for r in dead if r.key == b"ENC-huge")
    assert dict(huge.headers)["x-dlq-error-type"] == b"PayloadTooLarge" and len(huge.value) > 1024 * 1024
    readable = {a["data"]["encounter_id"] for a in alerts if a["data"].get("encounter_id")}
    assert {"ENC-wrong-types", "ENC-control-chars", "ENC-huge-number"} <= readable
    assert all(a["type"] == "casework.encounter.unprocessable.v1" for a in alerts)
    assert {a["data"].get("agency_id") for a in alerts} >= {"TX-DPS", None}


def mangle(event: dict, how: str) -> bytes:
    if how == "drop-field":
        event["data"].pop("region")
    elif how == "bad-enum":
        event["data"]["urgent_needs"] = ["money"]
    elif how == "truncate":
        return events.encode(event)[:-7]
    return events.encode(event)


message = st.tuples(st.sampled_from(["valid", "drop-field", "bad-enum", "truncate"]),
                    st.lists(st.sampled_from(["general.fearful_or_submissive", "minor.older_partner",
                                              "whatever.code"]), max_size=4))


class TestNothingIsLost:
    """Property: valid encounters open exactly one case each, invalid ones all reach the DLQ."""

    @hsettings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(message, min_size=3, max_size=12))
    async def test_every_message_is_accounted_for(self, settings, bus: Bus, batch) -> None:
        run = uuid.uuid4().hex[:6]
        service = bootstrap(settings)
        valid, invalid = set(), set()
        async with service.app:
            for i, (how, codes) in enumerate(batch):
                encounter_id = f"ENC-{run}-{i}"
                event = events.encounter(encounter_id, indicators=codes)
                await bus.publish("encounters.reported", mangle(event, how), key=encounter_id)
                (valid if how == "valid" else invalid).add(encounter_id)
            opened = await bus.events("cases.opened", where=lambda e: run in e["data"]["encounter_id"],
                                      count=len(valid), timeout=30, settle=0.5)
            dead = [r for r in await bus.read("encounters.reported.dlq", timeout=30,
                                              until=lambda rs: sum(run in r.key.decode() for r in rs) >= len(invalid))
                    if run in r.key.decode()]
        assert sorted(e["data"]["encounter_id"] for e in opened) == sorted(valid)
        assert sorted(r.key.decode() for r in dead) == sorted(invalid)
