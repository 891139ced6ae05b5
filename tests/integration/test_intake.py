"""Intake on the real broker and FerretDB: one case per encounter, bad input dead-lettered."""

from __future__ import annotations

import json

from services.intake.app import bootstrap
from shared.cloudevents import identity
from shared.crypto import KeyRing, Sealed
from tests.support import events
from tests.support.kafka import Bus


async def test_same_encounter_twice_and_republished_opens_one_case(settings, bus: Bus, mongo) -> None:
    service = bootstrap(settings)
    first = events.encounter("ENC-dup-1")
    republished = events.encounter("ENC-dup-1")  # a new CloudEvent id, the same encounter
    async with service.app:
        await bus.publish("encounters.reported", first)
        await bus.publish("encounters.reported", first)
        await bus.publish("encounters.reported", republished)
        await bus.publish("encounters.reported", events.encounter("ENC-dup-2"))
        opened = await bus.events("cases.opened", count=2, settle=2.0)
    by_encounter = {}
    for e in opened:
        by_encounter.setdefault(e["data"]["encounter_id"], []).append(e)
    assert sorted(by_encounter) == ["ENC-dup-1", "ENC-dup-2"]
    assert len(by_encounter["ENC-dup-1"]) == 1
    case = by_encounter["ENC-dup-1"][0]
    assert case["subject"] == case["data"]["case_id"]
    doc = await mongo[settings.database("intake")]["cases"].find_one({"_id": "TX-DPS|ENC-dup-1"})
    assert doc["state"]["reports"] == 2
    assert set(doc["seen"]) == {identity(e["source"], e["id"]) for e in (first, republished)}


async def test_screening_priority_and_minor(settings, bus: Bus) -> None:
    service = bootstrap(settings)
    minor = events.encounter("ENC-minor", person={"date_of_birth": "2010-03-01", "age_estimate": None},
                             urgent_needs=[], indicators=["general.fearful_or_submissive", "made.up_code"])
    async with service.app:
        await bus.publish("encounters.reported", minor)
        [opened] = await bus.events("cases.opened", count=1)
    data = opened["data"]
    assert data["minor"] is True and data["priority"] == "urgent"
    assert data["screening"]["categories"]["general"] == 1 and data["screening"]["indicator_count"] == 1
    assert data["unknown_indicators"] == ["made.up_code"]


async def test_no_pii_outside_the_vault(settings, bus: Bus, logs, mongo) -> None:
    service = bootstrap(settings)
    async with service.app:
        for i in range(3):
            await bus.publish("encounters.reported", events.encounter(f"ENC-pii-{i}"))
        bad = events.encounter("ENC-pii-bad")
        bad["data"]["region"] = 42  # invalid: dead-lettered, alert raised
        await bus.publish("encounters.reported", bad)
        await bus.events("cases.opened", count=3)
        await bus.events("intake.events", count=1)
    for topic in ("cases.opened", "intake.events"):
        for record in await bus.read(topic, timeout=2):
            raw = record.value.decode() + repr(record.headers) + (record.key or b"").decode()
            assert not [c for c in events.CANARIES if c in raw], topic
    dead = await bus.read("encounters.reported.dlq", timeout=2)
    assert len(dead) == 1 and events.CANARY_GIVEN.encode() in dead[0].value  # kept unchanged
    headers = dict(dead[0].headers)
    assert not [c for c in events.CANARIES if c in headers["x-dlq-error"].decode()]
    output = logs.getvalue()
    assert "dead-lettered" in output
    assert not [c for c in events.CANARIES if c in output]
    dump = json.dumps([d async for d in mongo[settings.database("intake")]["cases"].find()], default=str)
    assert "ENC-pii-0" in dump and not [c for c in events.CANARIES if c in dump]


async def test_vault_holds_the_subject_as_ciphertext_that_opens_with_the_ring(settings, bus: Bus, mongo) -> None:
    service = bootstrap(settings)
    async with service.app:
        await bus.publish("encounters.reported", events.encounter("ENC-vault"))
        await bus.events("cases.opened", count=1)
    doc = await mongo[settings.database("intake")]["cases"].find_one({"_id": "TX-DPS|ENC-vault"})
    sealed = Sealed.from_dict(doc["state"]["vault"])
    assert sealed.alg == "AES-256-GCM" and events.CANARY_GIVEN not in str(doc)
    assert doc["state"]["vault"]["aad"] == "case"  # bound to the key id and the case id
    subject = KeyRing.from_settings(settings).open(sealed, doc["state"]["case_id"])
    assert subject["person"]["given_name"] == events.CANARY_GIVEN
    assert subject["narrative"] == events.CANARY_NARRATIVE
