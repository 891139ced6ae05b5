"""Capacity on the real broker with two referral instances: never over ``max_active_cases``,
and no case left unassigned while someone has room."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from datetime import timedelta

from services.referral.app import bootstrap
from services.referral.ledger import CapacityLedger, Reconciler
from shared.kit import FakeClock
from shared.kit.store import MongoAggregateStore
from tests.support import referral as r
from tests.support.kafka import Bus

CASES = int(os.environ.get("REFERRAL_CASES", "1000"))
SPECIALISTS = 10
MAX = CASES * 95 // 1000  # 950 slots for 1,000 cases: the last 50 wait for room
WAITING = CASES - SPECIALISTS * MAX


async def test_1000_cases_over_10_specialists_and_two_instances(settings, bus: Bus, mongo) -> None:
    await bus.ensure("roster.specialists", "cases.opened")
    for i in range(SPECIALISTS):
        await bus.publish("roster.specialists", r.victim_specialist(
            f"sp-{i}", languages=["es"] if i % 2 else ["en"], regions=["*"] if i == 0 else ["US-TX"],
            max_active_cases=MAX))
    first, second = (bootstrap(settings) for _ in range(2))
    async with first.app, second.app:
        sends = [await bus.producer.send(settings.topic("cases.opened"), json.dumps(event).encode(),
                                         key=event["subject"].encode())
                 for event in (r.case_opened(f"case-{n:04d}", languages=[("es", "en", "vi")[n % 3]])
                               for n in range(CASES))]
        await asyncio.gather(*sends)
        events = await r.until_cases(bus, CASES, "assigned", "unassigned", timeout=400)
        assigned = r.per_case(events, "assigned")
        assert len(assigned) == SPECIALISTS * MAX and set(assigned.values()) == {1}  # no double assignment
        assert len(r.per_case(events, "unassigned")) == WAITING  # only once everyone is full
        per_specialist = r.per_specialist(events)
        assert per_specialist == dict.fromkeys(per_specialist, MAX) and len(per_specialist) == SPECIALISTS
        # room for the rest: the waiting cases are assigned as soon as the roster says so
        await bus.publish("roster.specialists", r.victim_specialist("sp-0", regions=["*"],
                                                                    max_active_cases=MAX + WAITING + 10))
        events = await r.until_cases(bus, CASES, "assigned", timeout=200)
    assigned = r.per_case(events, "assigned")
    assert len(assigned) == CASES and set(assigned.values()) == {1}
    per_specialist = r.per_specialist(events)
    assert per_specialist["sp-0"] == MAX + WAITING
    assert max(n for s, n in per_specialist.items() if s != "sp-0") == MAX
    db = mongo[settings.database("referral")]
    ledger = await r.holds(db)
    assert {s: len(tokens) for s, tokens in ledger.items()} == dict(per_specialist)
    holders = Counter([d["state"]["current"]["specialist_id"] async for d in db["referrals"].find()])
    assert holders == per_specialist


async def test_reconcile_releases_holds_no_referral_stands_behind(settings, bus: Bus, mongo) -> None:
    clock = FakeClock()
    await bus.ensure("roster.specialists")
    await bus.publish("roster.specialists", r.victim_specialist("sp-1", max_active_cases=4))
    async with bootstrap(settings, clock=clock).app:
        await bus.publish("cases.opened", r.case_opened("case-live"))
        await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
    db = mongo[settings.database("referral")]
    ledger = CapacityLedger(db["holds"], db["last_assigned"])
    # a lost race left a hold for an attempt the case made with someone else (dead), and a
    # crash one for an attempt never recorded (it may be in flight: it waits out the grace)
    await db["referrals"].insert_one({"_id": "case-other", "version": 1, "state": {
        "attempts": 1, "status": "assigned", "current": {"attempt": 1, "specialist_id": "sp-2"}}})
    assert not await ledger.reserve("sp-1", ["case-other#1", "case-ghost#1"], 4, clock.now())
    assert await ledger.reserve("sp-1", ["case-other#1"], 4, clock.now()) == set()  # held already: fine
    assert await ledger.reserve("sp-2", ["case-other#1"], 4, clock.now()) == {"case-other#1"}  # one holder
    assert await ledger.reserve("sp-1", ["case-x#1", "case-y#1"], 4, clock.now()) == {"case-y#1"}  # 4 of 4
    await ledger.release("sp-1", "case-x#1")
    reconciler = Reconciler(ledger, MongoAggregateStore(db["referrals"]).load, grace=timedelta(minutes=5))
    assert await reconciler.run(clock.now()) == 1
    assert await r.holds(db) == {"sp-1": ["case-ghost#1", "case-live#1"]}
    clock.advance(minutes=4)
    assert await reconciler.run(clock.now()) == 0
    clock.advance(minutes=1)
    assert await reconciler.run(clock.now()) == 1
    assert await r.holds(db) == {"sp-1": ["case-live#1"]}


async def test_a_batch_takes_its_slots_in_one_insert_and_a_slot_taken_meanwhile_the_careful_way(
        settings, mongo) -> None:
    clock = FakeClock()
    db = mongo[settings.database("referral")]
    ledger = CapacityLedger(db["holds"], db["last_assigned"])
    await ledger.ensure_indexes()
    view = await ledger.view()  # this process's view: empty
    # another instance took sp-1's slot 0 since: this view does not know it
    await db["holds"].insert_one({"_id": "sp-1|0", "specialist_id": "sp-1", "slot": 0, "token": "case-far#1"})
    missed = await ledger.reserve_all([("sp-1", ["case-a#1", "case-b#1"], 3, view.slots.get("sp-1", {})),
                                       ("sp-2", ["case-c#1", "case-d#1", "case-e#1"], 2, {})], clock.now())
    assert missed == {"case-e#1"}  # sp-2 has two slots; sp-1 had room for both beside the other's hold
    held = await r.holds(db)
    assert held == {"sp-1": ["case-a#1", "case-b#1", "case-far#1"], "sp-2": ["case-c#1", "case-d#1"]}
    assert {d["_id"] async for d in db["last_assigned"].find()} == {"sp-1", "sp-2"}
    # held already (a redelivered batch): nothing more is taken, nothing is missed
    again = await ledger.reserve_all([("sp-2", ["case-c#1"], 2, (await ledger.view()).slots.get("sp-2", {}))],
                                     clock.now())
    assert again == set() and await r.holds(db) == held
    # full, by the view or by the database: missed
    assert await ledger.reserve_all([("sp-1", ["case-z#1"], 3, {})], clock.now()) == {"case-z#1"}
