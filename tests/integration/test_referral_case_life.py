"""A case's life on the real broker and FerretDB: close, reopen, reassign, hand over,
withdraw, departures (docs/design.md, Case life)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.referral.app import bootstrap
from shared.kit import FakeClock
from tests.support import referral as r
from tests.support.kafka import Bus

EVENTS = "referrals.events"


async def roster(bus: Bus, *entries: dict) -> None:
    await bus.ensure("roster.specialists")
    for entry in entries:
        await bus.publish("roster.specialists", entry)


async def accepted(bus: Bus, case_id: str, specialist_id: str) -> dict:
    """Open a case and have its first specialist (``specialist_id``) accept it."""
    await bus.publish("cases.opened", r.case_opened(case_id))
    [assigned] = await bus.events(EVENTS, count=1, where=r.is_kind("assigned", case_id))
    assert assigned["data"]["specialist_id"] == specialist_id
    await bus.publish("referrals.responded", r.responded(case_id, assigned["data"]["referral_id"], specialist_id))
    await bus.events(EVENTS, count=1, where=r.is_kind("accepted", case_id))
    return assigned["data"]


async def test_closing_frees_the_slot_and_a_waiting_case_is_assigned_at_once(settings, bus: Bus, mongo) -> None:
    # The periodic retry is an hour away: only the closure's own wake-up can assign case-b.
    settings = settings.amended(referral={"retry_unassigned_seconds": 3600})
    await roster(bus, r.victim_specialist("sp-1", max_active_cases=1))
    async with bootstrap(settings).app:
        await accepted(bus, "case-a", "sp-1")
        await bus.publish("cases.opened", r.case_opened("case-b"))
        await bus.events(EVENTS, count=1, where=r.is_kind("unassigned", "case-b"))
        await bus.publish("cases.closed", r.case_closed("case-a", r.actor("sp-1")))
        [b] = await bus.events(EVENTS, count=1, where=r.is_kind("assigned", "case-b"), timeout=20)
        events = await bus.events(EVENTS)
    assert b["data"]["specialist_id"] == "sp-1"
    [closed] = r.of_kind(events, "closed")
    assert (closed["subject"], closed["data"]["released_specialist_id"], closed["data"]["reason"]) == \
        ("case-a", "sp-1", "services_completed")
    assert closed["data"]["closed_by"] == r.actor("sp-1")
    db = mongo[settings.database("referral")]
    assert await r.holds(db) == {"sp-1": ["case-b#1"]}
    doc = await db["referrals"].find_one({"_id": "case-a"})
    assert doc["state"]["status"] == "closed" and doc["state"]["timers"] == {}


async def test_a_close_by_someone_not_entitled_is_refused_and_a_reopening_returns_to_the_holder(
        settings, bus: Bus, mongo) -> None:
    await roster(bus, r.victim_specialist("sp-1"), r.victim_specialist("sp-2"), r.supervisor("sup-tx"),
                 r.supervisor("sup-ca", regions=["US-CA"]), r.supervisor("sup-other", agency_id="CA-DOJ"))
    async with bootstrap(settings).app:
        first = await accepted(bus, "case-c", "sp-1")
        for by in (r.actor("sp-2"), r.actor("sup-ca", "supervisor"), r.actor("sup-other", "supervisor")):
            await bus.publish("cases.closed", r.case_closed("case-c", by, "lost_contact"))
        refused = await bus.events(EVENTS, count=3, where=r.is_kind("refused"))
        db = mongo[settings.database("referral")]
        doc = await db["referrals"].find_one({"_id": "case-c"})
        assert doc["state"]["status"] == "accepted"  # still open, still theirs
        await bus.publish("cases.closed", r.case_closed("case-c", r.actor("sup-tx", "supervisor")))
        await bus.events(EVENTS, count=1, where=r.is_kind("closed"))
        await bus.publish("cases.reopened", r.case_reopened("case-c", r.actor("sp-2")))  # not the holder
        await bus.publish("cases.reopened", r.case_reopened("case-c", r.actor("sp-1")))
        await bus.events(EVENTS, count=1, where=r.is_kind("reopened"))
        assigned = await bus.events(EVENTS, count=2, where=r.is_kind("assigned"))
        events = await bus.events(EVENTS, count=4, where=r.is_kind("refused"))
    assert [(e["data"]["action"], e["data"]["rejection"]) for e in refused] == [("close", "not_entitled")] * 3
    assert [(e["data"]["action"], e["data"]["rejection"]) for e in r.of_kind(events, "refused")][3] == \
        ("reopen", "not_entitled")
    again = assigned[1]["data"]
    assert (again["specialist_id"], again["attempt"]) == ("sp-1", 2) and again["referral_id"] != first["referral_id"]
    [reopened] = r.of_kind(await bus.events(EVENTS), "reopened")
    assert (reopened["data"]["reopen_count"], reopened["data"]["previous_specialist_id"]) == (1, "sp-1")
    assert await r.holds(mongo[settings.database("referral")]) == {"sp-1": ["case-c#2"]}


async def test_a_supervisor_names_a_specialist_and_a_declined_handover_keeps_the_holder(
        settings, bus: Bus, mongo) -> None:
    await roster(bus, r.victim_specialist("sp-1"), r.victim_specialist("sp-2"), r.supervisor("sup-tx"))
    async with bootstrap(settings).app:
        await bus.publish("cases.opened", r.case_opened("case-h"))
        [one] = await bus.events(EVENTS, count=1, where=r.is_kind("assigned"))
        assert one["data"]["specialist_id"] == "sp-1"
        await bus.publish("referrals.responded", r.responded("case-h", one["data"]["referral_id"], "sp-1", "declined"))
        await bus.events(EVENTS, count=2, where=r.is_kind("assigned"))  # to sp-2
        # the supervisor names sp-1 again: naming overrides the earlier decline
        await bus.publish("referrals.reassigned",
                          r.reassigned("case-h", r.actor("sup-tx", "supervisor"), "sp-1", "language"))
        assigned = await bus.events(EVENTS, count=3, where=r.is_kind("assigned"))
        named = assigned[2]["data"]
        assert (named["specialist_id"], named["reassigned_by"], named["reassignment_reason"]) == \
            ("sp-1", r.actor("sup-tx", "supervisor"), "language")
        await bus.publish("referrals.responded", r.responded("case-h", named["referral_id"], "sp-1"))
        await bus.events(EVENTS, count=1, where=r.is_kind("accepted"))
        # the holder hands over to sp-2, who declines: sp-1 keeps the case
        await bus.publish("referrals.reassigned", r.reassigned("case-h", r.actor("sp-1"), "sp-2", "handover"))
        assigned = await bus.events(EVENTS, count=4, where=r.is_kind("assigned"))
        offer = assigned[3]["data"]
        assert (offer["specialist_id"], offer["handover_from"]) == ("sp-2", "sp-1")
        await bus.publish("referrals.responded", r.responded("case-h", offer["referral_id"], "sp-2", "declined"))
        [kept] = await bus.events(EVENTS, count=1, where=r.is_kind("kept"))
        # 4 assigned, 2 declined, the released, the accepted, the kept
        events = await bus.events(EVENTS, settle=1.0, count=9)
    assert (kept["data"]["specialist_id"], kept["data"]["declined_referral_id"]) == ("sp-1", offer["referral_id"])
    assert kept["data"]["referral_id"] == named["referral_id"] and kept["data"]["escalations"] == 0
    [released] = r.of_kind(events, "released")  # sp-2's unaccepted referral, when the supervisor moved it
    assert (released["data"]["specialist_id"], released["data"]["reason"]) == ("sp-2", "reassigned")
    assert not r.of_kind(events, "escalated")
    assert await r.holds(mongo[settings.database("referral")]) == {"sp-1": ["case-h#3"]}


async def test_a_tombstone_moves_the_unaccepted_case_at_once_and_flags_the_accepted_one(
        settings, bus: Bus, mongo) -> None:
    clock = FakeClock()
    await roster(bus, r.victim_specialist("sp-x"), r.supervisor("sup-tx"))
    async with bootstrap(settings, clock=clock).app:
        await accepted(bus, "case-k", "sp-x")
        await bus.publish("cases.opened", r.case_opened("case-u"))
        await bus.events(EVENTS, count=1, where=r.is_kind("assigned", "case-u"))
        clock.advance(minutes=31)  # case-u escalates, and goes back to sp-x: nobody else
        [escalated] = await bus.events(EVENTS, count=1, where=r.is_kind("escalated", "case-u"))
        await bus.events(EVENTS, count=2, where=r.is_kind("assigned", "case-u"))
        await bus.publish("roster.specialists", r.victim_specialist("sp-y"))
        await bus.publish("roster.specialists", None, key="sp-x")
        [released] = await bus.events(EVENTS, count=1, where=r.is_kind("released", "case-u"))
        moved = await bus.events(EVENTS, count=3, where=r.is_kind("assigned", "case-u"))
        [needs] = await bus.events(EVENTS, count=1, where=r.is_kind("needs_holder", "case-k"))
    assert escalated["data"]["escalations"] == 1
    assert (released["data"]["specialist_id"], released["data"]["reason"]) == ("sp-x", "specialist_departed")
    last = moved[2]["data"]
    assert last["specialist_id"] == "sp-y" and last["escalations"] == 1  # no escalation counted for leaving
    assert (needs["data"]["specialist_id"], needs["data"]["scope"]) == ("sp-x", "region")
    assert await r.holds(mongo[settings.database("referral")]) == {"sp-x": ["case-k#1"], "sp-y": ["case-u#3"]}


async def test_a_withdrawal_closes_the_case_as_withdrawn(settings, bus: Bus, mongo) -> None:
    await roster(bus, r.victim_specialist("sp-1"))
    async with bootstrap(settings).app:
        await accepted(bus, "case-w", "sp-1")
        await bus.publish("cases.opened", r.case_withdrawn("case-w"))
        [closed] = await bus.events(EVENTS, count=1, where=r.is_kind("closed"))
    assert (closed["data"]["reason"], closed["data"].get("closed_by"), closed["data"]["released_specialist_id"]) == \
        ("withdrawn", None, "sp-1")
    assert await r.holds(mongo[settings.database("referral")]) == {}


async def test_redelivered_requests_change_nothing_twice(settings, bus: Bus, mongo) -> None:
    await roster(bus, r.victim_specialist("sp-1"), r.victim_specialist("sp-2"), r.supervisor("sup-tx"))
    sup = r.actor("sup-tx", "supervisor")
    async with bootstrap(settings).app:
        await accepted(bus, "case-r", "sp-1")
        for request, topic, kind in [(r.case_closed("case-r", sup), "cases.closed", "closed"),
                                     (r.case_reopened("case-r", sup), "cases.reopened", "reopened"),
                                     (r.reassigned("case-r", sup), "referrals.reassigned", "released"),
                                     (r.case_withdrawn("case-r"), "cases.opened", "closed")]:
            await bus.publish(topic, request)
            await bus.publish(topic, request)  # redelivered: the same event id
            await bus.events(EVENTS, count=2 if request["type"].endswith("withdrawn.v1") else 1,
                             where=r.is_kind(kind))
        events = await bus.events(EVENTS, settle=2.0, count=8)
    counts = {kind: len(r.unique(events, kind)) for kind in ("closed", "reopened", "released", "assigned", "refused")}
    # open + reopen back to sp-1 + the supervisor's move to sp-2; one release; two closures
    assert counts == {"closed": 2, "reopened": 1, "released": 1, "assigned": 3, "refused": 0}
    assert len(events) == len({e["id"] for e in events})  # not even a re-sent duplicate
    assert await r.holds(mongo[settings.database("referral")]) == {}


def bad_requests(make: Callable[[], dict[str, Any]]) -> list[bytes | dict[str, Any]]:
    unknown_field = make()
    unknown_field["data"]["note"] = "free text"
    wrong_role = make()
    for key in ("closed_by", "reopened_by", "requested_by"):
        if key in wrong_role["data"]:
            wrong_role["data"][key]["role"] = "officer"
    wrong_reason = make()
    wrong_reason["data"]["reason"] = "because"
    other_type = make()
    other_type["type"] = "casework.referral.assigned.v1"
    return [b"{not json", json.dumps({"hello": "world"}).encode(), unknown_field, wrong_role, wrong_reason, other_type]


async def test_bad_requests_are_dead_lettered_and_each_consumer_goes_on(settings, bus: Bus) -> None:
    sup = r.actor("sup-tx", "supervisor")
    makers = {"cases.closed": lambda: r.case_closed("case-b", dict(sup)),
              "cases.reopened": lambda: r.case_reopened("case-b", dict(sup)),
              "referrals.reassigned": lambda: r.reassigned("case-b", dict(sup), "sp-2")}
    applied = {"cases.closed": r.is_kind("closed"), "cases.reopened": r.is_kind("reopened"),
               "referrals.reassigned": lambda e: e["type"] == r.TYPES["assigned"]
               and e["data"].get("reassigned_by") == sup}
    await roster(bus, r.victim_specialist("sp-1"), r.victim_specialist("sp-2"), r.supervisor("sup-tx"))
    await bus.ensure(*makers)
    async with bootstrap(settings).app:
        await accepted(bus, "case-b", "sp-1")
        sent = {}
        for topic, make in makers.items():
            sent[topic] = bad_requests(make)
            for bad in sent[topic]:
                await bus.publish(topic, bad, key="case-b")
            await bus.publish(topic, make())  # a good one after the bad: still applied
            wanted = len(sent[topic])
            dead = await bus.read(f"{topic}.dlq", until=lambda recs, n=wanted: len(recs) >= n)
            assert {rec.value for rec in dead} == {b if isinstance(b, bytes) else json.dumps(b).encode()
                                                   for b in sent[topic]}
            assert all({"x-dlq-error-type", "x-dlq-source"} <= set(dict(rec.headers)) for rec in dead)
            [done] = await bus.events(EVENTS, count=1, where=applied[topic])  # the consumer went on
        assert done["data"]["specialist_id"] == "sp-2"
        assert not await bus.events(EVENTS, where=r.is_kind("refused"), timeout=1)


async def test_an_unassigned_case_alerts_again_and_widens_and_an_off_duty_notice_twice_moves_once(
        settings, bus: Bus, mongo) -> None:
    settings = settings.amended(referral={"max_escalations": 1, "unassigned_realert_seconds": 600})
    clock = FakeClock()
    await roster(bus, r.victim_specialist("sp-1", max_active_cases=1), r.supervisor("sup-tx"))
    async with bootstrap(settings, clock=clock).app:
        await accepted(bus, "case-full", "sp-1")
        await bus.publish("cases.opened", r.case_opened("case-wait"))
        for alert in (1, 2, 3):
            if alert > 1:
                clock.advance(seconds=600)
            await bus.events(EVENTS, count=alert, where=r.is_kind("unassigned", "case-wait"))
        off_duty = r.victim_specialist("sp-1", max_active_cases=1, on_duty=False)
        await bus.publish("roster.specialists", off_duty)
        await bus.publish("roster.specialists", off_duty)  # the same notice again
        await bus.events(EVENTS, count=1, where=r.is_kind("needs_holder", "case-full"))
        events = await bus.events(EVENTS, settle=2.0, count=6)
    alerts = [(e["data"]["alert"], e["data"]["scope"]) for e in r.unique(events, "unassigned")]
    assert alerts == [(1, "region"), (2, "all"), (3, "all")]
    assert len(r.unique(events, "needs_holder")) == 1
    doc = await mongo[settings.database("referral")]["referrals"].find_one({"_id": "case-wait"})
    assert doc["state"]["status"] == "unassigned" and doc["state"]["alert"] == 3
