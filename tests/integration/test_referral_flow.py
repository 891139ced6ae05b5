"""Referral on the real broker and FerretDB: assign at once, respond, reject what cannot apply."""

from __future__ import annotations

import json

from services.referral.app import bootstrap
from tests.support import referral as r
from tests.support.kafka import Bus


async def test_assigns_at_once_then_accepts_and_rejects_what_cannot_apply(settings, bus: Bus, mongo, logs) -> None:
    service = bootstrap(settings)
    await bus.ensure("roster.specialists")
    await bus.publish("roster.specialists", r.victim_specialist("sp-es", languages=["es"]))
    await bus.publish("roster.specialists", r.victim_specialist("sp-en", languages=["en"]))
    async with service.app:
        await bus.publish("cases.opened", r.case_opened("case-1", languages=["es-MX"]))
        [assigned] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
        data = assigned["data"]
        assert (data["specialist_id"], data["language_match"], data["attempt"]) == ("sp-es", True, 1)
        await bus.publish("referrals.responded", r.responded("case-1", data["referral_id"], "sp-en"))
        await bus.publish("referrals.responded", r.responded("case-1", data["referral_id"], "sp-es"))
        await bus.publish("referrals.responded", r.responded("case-unknown", "ref-x", "sp-es"))
        out = await bus.events("referrals.events", count=4)
    kinds = [e["type"] for e in out]
    assert kinds.count(r.TYPES["accepted"]) == 1
    rejected = sorted(e["data"]["rejection"] for e in r.of_kind(out, "rejected"))
    assert rejected == ["unknown_case", "wrong_specialist"]
    logged = [json.loads(line) for line in logs.getvalue().splitlines()
              if "referral response rejected" in line]
    assert sorted(entry["rejection"] for entry in logged) == rejected  # and a logged reason for each
    assert all(entry["reason"] and entry["level"] == "warning" for entry in logged)
    assert await r.holds(mongo[settings.database("referral")]) == {"sp-es": ["case-1#1"]}


async def test_decline_reassigns_never_to_the_same_and_a_new_specialist_takes_an_unassigned_case(
        settings, bus: Bus) -> None:
    service = bootstrap(settings)
    await bus.ensure("roster.specialists")
    for sid in ("sp-1", "sp-2"):
        await bus.publish("roster.specialists", r.victim_specialist(sid))
    async with service.app:
        await bus.publish("cases.opened", r.case_opened("case-d"))
        [first] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
        one = first["data"]
        await bus.publish("referrals.responded", r.responded("case-d", one["referral_id"], one["specialist_id"],
                                                             "declined", reason="conflict of interest"))
        assigned = await bus.events("referrals.events", count=2, where=r.is_kind("assigned"))
        two = assigned[1]["data"]
        assert two["specialist_id"] != one["specialist_id"] and two["attempt"] == 2
        # the first specialist changes their mind too late: superseded, never applied
        await bus.publish("referrals.responded", r.responded("case-d", one["referral_id"], one["specialist_id"]))
        await bus.publish("referrals.responded", r.responded("case-d", two["referral_id"], two["specialist_id"],
                                                             "declined"))
        await bus.events("referrals.events", count=1, where=r.is_kind("unassigned"))
        await bus.publish("roster.specialists", r.victim_specialist("sp-3", regions=["*"]))
        out = await bus.events("referrals.events", count=3, where=r.is_kind("assigned"))
    assert out[2]["data"]["specialist_id"] == "sp-3" and out[2]["data"]["attempt"] == 3
    events = await bus.events("referrals.events", timeout=2)
    declined = r.of_kind(events, "declined")
    assert [d["data"].get("reason") for d in declined] == ["conflict of interest", None]
    [rejected] = r.of_kind(events, "rejected")
    assert rejected["data"]["rejection"] == "superseded"
    [unassigned] = r.of_kind(events, "unassigned")
    assert unassigned["data"]["previous_specialist_id"] == two["specialist_id"]
    assert not r.of_kind(events, "accepted")


async def test_tombstone_removes_and_a_restart_rebuilds_the_roster_from_the_topic(settings, bus: Bus, mongo) -> None:
    await bus.ensure("roster.specialists")
    await bus.publish("roster.specialists", r.victim_specialist("sp-gone"))
    await bus.publish("roster.specialists", r.victim_specialist("sp-stays", max_active_cases=3))
    await bus.publish("roster.specialists", None, key="sp-gone")  # a null value removes
    async with bootstrap(settings).app:
        await bus.publish("cases.opened", r.case_opened("case-r1"))
        [first] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
    assert first["data"]["specialist_id"] == "sp-stays"
    db = mongo[settings.database("referral")]
    await db["roster"].drop()  # whatever the database lost, the topic has it
    async with bootstrap(settings).app:
        assert {d["_id"] async for d in db["roster"].find({"removed": False})} == {"sp-stays"}
        await bus.publish("cases.opened", r.case_opened("case-r2"))
        out = await bus.events("referrals.events", count=2, where=r.is_kind("assigned"))
    assert out[1]["data"]["specialist_id"] == "sp-stays"
    doc = await db["roster"].find_one({"_id": "sp-stays"})
    assert "email" not in doc and "name" not in doc  # only what matching needs (P3)


async def test_off_duty_keeps_accepted_cases_but_gets_no_new_ones(settings, bus: Bus, mongo) -> None:
    await bus.ensure("roster.specialists")
    await bus.publish("roster.specialists", r.victim_specialist("sp-a", languages=["es"]))
    await bus.publish("roster.specialists", r.victim_specialist("sp-b", languages=["en"]))
    async with bootstrap(settings).app:
        await bus.publish("cases.opened", r.case_opened("case-o1"))
        [a] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
        assert a["data"]["specialist_id"] == "sp-a"
        await bus.publish("referrals.responded", r.responded("case-o1", a["data"]["referral_id"], "sp-a"))
        await bus.events("referrals.events", count=1, where=r.is_kind("accepted"))
        await bus.publish("roster.specialists", r.victim_specialist("sp-a", languages=["es"], on_duty=False))
        async def off_duty() -> bool:
            doc = await mongo[settings.database("referral")]["roster"].find_one({"_id": "sp-a"})
            return doc is not None and doc["on_duty"] is False
        from tests.support.kafka import eventually
        await eventually(off_duty, timeout=15)
        await bus.publish("cases.opened", r.case_opened("case-o2"))
        out = await bus.events("referrals.events", count=2, where=r.is_kind("assigned"))
    # The two cases may sit on different partitions: read back, their order is not the topic's.
    [second] = [e for e in out if e["subject"] == "case-o2"]
    assert second["data"]["specialist_id"] == "sp-b"  # no language match, but on duty
    assert second["data"]["language_match"] is False
    assert await r.holds(mongo[settings.database("referral")]) == {"sp-a": ["case-o1#1"], "sp-b": ["case-o2#1"]}
