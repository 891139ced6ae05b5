"""Referral: assignment latency, and the cost of one timer sweep with 100,000 open referrals.

1. Latency ``cases.opened`` → ``ReferralAssigned`` at a fixed offered rate: cases are
   published on a schedule while the service runs; the latency of a case is the time
   between the two records' creation timestamps (producer clocks on this machine).
2. Sweep: 100,000 open referrals (assigned, acknowledgement due within the next 30
   minutes), 100 of them due now, inserted straight into the service's collection with
   bulk inserts, with the kit's per-second index of their timers. The timed part is what one
   sweep reads before firing: the index minutes that have come due (by ``_id``), then
   those referrals (by ``_id``). Then 100,000 closed referrals (accepted, no timer) are
   added and the same sweep is timed again: it must not grow. The plan of a minute lookup
   is reported as the database explains it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import percentiles, wait_for
from casework.namespace import admit, forget
from services.referral.app import bootstrap
from shared.cloudevents import derived_id
from shared.kafka import connection, ensure_topics
from shared.kit.records import to_millis
from shared.kit.timers import bucket_of
from shared.settings import Settings
from tests.support.referral import TYPES, case_opened, victim_specialist

CHUNK = 5000


async def latency(settings: Settings, cases: int, rate: float) -> dict[str, Any]:
    await ensure_topics(settings, ["roster.specialists", "cases.opened", "referrals.events"], principal="admin")
    producer = AIOKafkaProducer(**connection(settings, "admin"), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(10):
            event = victim_specialist(f"sp-{i}", languages=["en", "es"], regions=["*"], max_active_cases=10_000)
            await producer.send_and_wait(settings.topic("roster.specialists"), json.dumps(event).encode(),
                                         key=event["subject"].encode())
        async with bootstrap(settings).app:
            await _offer(producer, settings, "warm", 20, rate)
            await wait_for(settings, "referrals.events", 20)
            start = time.monotonic()
            await _offer(producer, settings, "lat", cases, rate)
            assigned = await wait_for(settings, "referrals.events", 20 + cases, timeout=600,
                                      match=lambda r: json.loads(r.value)["type"] == TYPES["assigned"])
            wall = time.monotonic() - start
        opened = {json.loads(r.value)["subject"]: r.timestamp
                  for r in await wait_for(settings, "cases.opened", 20 + cases)}
    finally:
        await producer.stop()
    millis = [r.timestamp - opened[json.loads(r.value)["subject"]] for r in assigned
              if json.loads(r.value)["subject"].startswith("case-lat")]
    return {"offered_per_second": rate, "cases": cases, "assigned": len(millis), "wall_seconds": round(wall, 1),
            "latency_ms": {k: round(v, 1) for k, v in percentiles(millis).items()}}


async def _offer(producer: AIOKafkaProducer, settings: Settings, tag: str, count: int, rate: float) -> None:
    start = time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        event = case_opened(f"case-{tag}-{i:05d}", languages=["es"])
        await producer.send(settings.topic("cases.opened"), json.dumps(event).encode(),
                            key=event["subject"].encode())
    await producer.flush()


def referral_document(n: int, now: datetime, *, due: bool, closed: bool) -> dict[str, Any]:
    """A referral as the service stores it: open (an acknowledgement timer) or accepted."""
    case_id = f"case-{'c' if closed else 'o'}{n:07d}"
    ack_due = now - timedelta(seconds=1) if due else now + timedelta(minutes=n % 30 + 1)
    current = {"referral_id": "ref-" + derived_id(case_id, "referral-1"), "specialist_id": f"sp-{n % 50}",
               "attempt": 1, "assigned_at": (now - timedelta(minutes=5)).isoformat(),
               "ack_due_at": ack_due.isoformat(), "language_match": True,
               "accepted_at": now.isoformat() if closed else None}
    state = {"case_id": case_id, "agency_id": "TX-DPS", "region": "US-TX", "priority": "normal",
             "languages": ["es"], "status": "accepted" if closed else "assigned", "current": current,
             "history": [], "attempts": 1, "escalations": 0,
             "timers": {} if closed else {"ack": ack_due.isoformat()}}
    return {"_id": case_id, "version": 2 if closed else 1, "state": state, "seen": [str(uuid.uuid4())],
            "outbox": [], "due_at": None if closed else to_millis(ack_due),
            "updated_at": now}


def timer_buckets(documents: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The kit's per-second index of these referrals' timers, as its writes would have noted them."""
    buckets: dict[str, list[dict[str, Any]]] = {}
    for doc in documents:
        if doc["due_at"] is not None:
            buckets.setdefault(bucket_of(max(doc["due_at"], now - timedelta(seconds=1))), []).append(
                {"a": doc["_id"], "t": doc["due_at"]})
    return [{"_id": bucket, "entries": entries} for bucket, entries in sorted(buckets.items())]


async def sweep_cost(settings: Settings, open_count: int, closed_count: int, due_count: int) -> dict[str, Any]:
    service = bootstrap(settings)
    [workflow] = service.workflows
    store = workflow.store
    await store.ensure_indexes()
    now = datetime.now(UTC)
    started = time.perf_counter()
    opened = [referral_document(n, now, due=n < due_count, closed=False) for n in range(open_count)]
    await _insert(store.collection, opened)
    await _insert(store.timers.collection, timer_buckets(opened, now))
    inserted = time.perf_counter() - started
    with_open = await _timed_sweep(store, now, due_count)
    await _insert(store.collection, [referral_document(n, now, due=False, closed=True) for n in range(closed_count)])
    with_history = await _timed_sweep(store, now, due_count)
    plan = await store.timers.collection.find({"_id": bucket_of(now)}).explain()
    await service.mongo.close()
    return {"open_referrals": open_count, "due_now": due_count, "closed_referrals_added": closed_count,
            "insert_seconds_per_100k": round(inserted * 100_000 / max(open_count, 1), 1),
            "sweep_ms_open_only": with_open, "sweep_ms_with_closed_history": with_history,
            "growth_with_history": round(with_history["best"] / with_open["best"], 2) if with_open["best"] else None,
            "query_plan": _plan(plan)}


async def _insert(collection: Any, documents: list[dict[str, Any]]) -> None:
    for start in range(0, len(documents), CHUNK):
        await collection.insert_many(documents[start:start + CHUNK], ordered=False)


async def _timed_sweep(store: Any, now: datetime, expected: int, rounds: int = 3) -> dict[str, Any]:
    """What a sweep reads before firing: the due seconds of the index, then those referrals.

    The first sweep after a start also looks for the earliest second noted; later ones
    start where the last left off.
    """
    store.timers.cursor = None
    times = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        due = await store.timers.due(now, 500)
        records = await store.load(sorted({timer.aggregate_id for timer in due}))
        times.append((time.perf_counter() - started) * 1000)
        assert len(records) == expected, f"the sweep found {len(records)} due referrals, not {expected}"
    return {"first_after_start": round(times[0], 1), "best": round(min(times[1:]), 1),
            "worst": round(max(times[1:]), 1)}


def _plan(explained: dict[str, Any]) -> dict[str, Any]:
    """Whether the database answered from an index: MongoDB's winning plan or FerretDB's pushdown."""
    if "filterPushdown" in explained:  # FerretDB: only what it pushes down to SQL uses an index
        return {"database": "FerretDB", "index_used": bool(explained["filterPushdown"]),
                "detail": explained.get("queryPlanner")}
    winning = json.dumps(explained.get("queryPlanner", {}).get("winningPlan", {}), default=str)
    return {"database": "MongoDB", "index_used": "COLLSCAN" not in winning, "detail": winning[:300]}


async def run(settings: Settings, *, cases: int = 300, rate: float = 25.0, open_referrals: int = 100_000,
              closed_referrals: int = 100_000, due_now: int = 100) -> dict[str, Any]:
    tag = f"bench{uuid.uuid4().hex[:6]}"
    config = settings.model_copy(update={"topic_prefix": f"{tag}.", "db_prefix": f"{tag}_"})
    try:
        await admit(config)  # referral signs in as itself: the catalogue's ACLs on these topics
        assignment = await latency(config, cases, rate)
        await forget(config)
        await admit(config)
        sweep = await sweep_cost(config, open_referrals, closed_referrals, due_now)
    finally:
        await forget(config)
    return {"benchmark": "referral", "assignment": assignment, "timer_sweep": sweep}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(Settings(log_level="WARNING"))), indent=2))
