"""Status: snapshots published per second, and the dashboard API with 100,000 cases.

1. Projection: ``cases.opened`` plus an assignment and an acceptance per case are on the
   topics before the service starts; snapshots/s = snapshots on ``cases.status`` over the
   time from the first to the last one (the service's own timestamps).
2. Dashboard: 100,000 snapshots on ``cases.status`` and the matching read-model documents;
   the service starts (its board catches up from the topic: timed), then a mix of API
   calls per role runs with a few concurrent clients: p50/p90/p99 per endpoint.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import ServiceProcess, fresh_settings, percentiles, produce_all, sampling, wait_for
from casework.namespace import admit, forget
from services.status import domain
from services.status.access import Role, new_token
from services.status.state import CaseView, Opened, Referral
from shared.cloudevents import encode, new_event
from shared.contracts.status import CaseStatus
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests.support import status as ev
from tests.support.procs import free_port

AGENCIES = [f"AG-{i:02d}" for i in range(20)]
STAGES = ["referral", "engaged", "stabilizing", "interview_cleared"]


def _event(payload: Any, event_id: str, at: datetime) -> dict[str, Any]:
    return json.loads(encode(new_event(payload, event_id=event_id, source="casework/bench", time=at)))


async def projection(settings: Settings, cases: int, port: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    await ensure_topics(settings, ["cases.opened", "referrals.events", "cases.status"], principal="admin")
    opened = [(f"c{i}", _event(ev.case_opened(f"c{i}", at=now), f"o{i}", now)) for i in range(cases)]
    referrals = []
    for i in range(cases):
        assigned = ev.assigned(f"c{i}", f"r{i}", f"sp-{i % 50}", at=now + timedelta(seconds=1))
        accepted = ev.accepted(f"c{i}", f"r{i}", f"sp-{i % 50}", assigned_at=now + timedelta(seconds=1),
                               at=now + timedelta(seconds=30))
        referrals += [(f"c{i}", _event(assigned, f"a{i}", now)), (f"c{i}", _event(accepted, f"k{i}", now))]
    await produce_all(settings, "cases.opened", opened)
    await produce_all(settings, "referrals.events", referrals)
    service = ServiceProcess("status", settings, port=port)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sampling([service], stop))
    started = time.perf_counter()
    await service.start()
    final = await wait_for(settings, "cases.status", cases,
                           match=lambda r: json.loads(r.value)["data"]["version"] == 3, timeout=900)
    wall = time.perf_counter() - started
    stop.set()
    await sampler
    await service.stop()
    published = [r.timestamp for r in await wait_for(settings, "cases.status", 10**9, timeout=5)]
    span = (max(published) - min(published)) / 1000 or float("nan")
    return {"cases": cases, "input_events": 3 * cases, "snapshots": len(published), "final_snapshots": len(final),
            "snapshots_per_s": round(len(published) / span), "wall_seconds_from_start": round(wall, 1),
            "peak_rss_mib": round(service.peak_rss / 2**20)}


def _synthetic(i: int, now: datetime, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """A snapshot and the read-model document it came from, for case ``i``."""
    opened_at = now - timedelta(minutes=rng.randint(1, 40 * 24 * 60))
    stage = rng.choices(STAGES, weights=[2, 2, 3, 5])[0]
    assigned = opened_at + timedelta(seconds=rng.randint(2, 600))
    referral = Referral(referral_id=f"r{i}", specialist_id=f"sp-{i % 400}", assigned_at=assigned,
                        ack_due_at=assigned + timedelta(minutes=15), escalations=rng.choice([0, 0, 0, 1]),
                        status="assigned" if stage == "referral" else "accepted", first_assigned_at=assigned,
                        accepted_at=None if stage == "referral" else assigned + timedelta(minutes=rng.randint(1, 60)))
    view = CaseView(case_id=f"bench-{i}", version=3, updated_at=now, referral=referral, opened=Opened(
        encounter_id=f"ENC-{i}", agency_id=AGENCIES[i % len(AGENCIES)], region="US-TX", opened_at=opened_at,
        priority=rng.choice(["urgent", "high", "normal"]), minor=rng.random() < 0.1, categories={"labor": 1},
        indicator_count=1, languages=["es"], interpreter_needed=True, urgent_needs=["shelter"]))
    snapshot = domain.snapshot(view).model_dump(mode="json") | {"stage": stage}
    doc = {"_id": view.case_id, "version": 3, "state": view.model_dump(mode="json"), "seen": [], "outbox": [],
           "due_at": None}
    return snapshot, doc


async def seed(settings: Settings, count: int) -> list[str]:
    rng, now = random.Random(11), datetime.now(UTC)
    snapshots, docs = [], []
    for i in range(count):
        snapshot, doc = _synthetic(i, now, rng)
        event = {"specversion": "1.0", "id": f"bench-snap-{i}", "source": "casework/status", "time": now.isoformat(),
                 "type": CaseStatus.TYPE, "subject": snapshot["case_id"], "data": snapshot}
        snapshots.append((snapshot["case_id"], event))
        docs.append(doc)
    await ensure_topics(settings, ["cases.status"], principal="admin")
    await produce_all(settings, "cases.status", snapshots)
    client = AsyncMongoClient(settings.mongo_uri)
    collection = client[settings.database("status")]["cases"]
    for start in range(0, count, 2000):
        await collection.insert_many(docs[start:start + 2000], ordered=False)
    await client.close()
    return [d["_id"] for d in docs]


async def api(settings: Settings, count: int, requests: int, port: int) -> dict[str, Any]:
    case_ids = await seed(settings, count)
    made = {"supervisor_all": new_token("b-sup", Role.SUPERVISOR, ["*"]),
            "supervisor_2": new_token("b-sup2", Role.SUPERVISOR, AGENCIES[:2]),
            "specialist": new_token("b-sp", Role.SPECIALIST, [], "sp-7"),
            "analyst": new_token("b-an", Role.ANALYST, ["*"])}
    tokens = json.dumps([p.model_dump(mode="json") for _, p in made.values()])
    service = ServiceProcess("status", settings.amended(status={"dashboard_tokens": tokens}), port=port)
    started = time.perf_counter()
    await service.start()
    await service.ready(timeout=900)
    ready_after = time.perf_counter() - started
    async with httpx.AsyncClient() as probe:
        board = (await probe.get(f"http://127.0.0.1:{port}/readyz")).json()["board"]
    rng = random.Random(5)
    page = "/api/cases?stage=interview_cleared&limit=50&offset={offset}"
    calls = [("board", "supervisor_all", "/api/board"), ("board", "supervisor_2", "/api/board"),
             ("board", "specialist", "/api/board"), ("cases page", "supervisor_all", page),
             ("case", "supervisor_all", "/api/cases/{case}"), ("aggregates", "analyst", "/api/aggregates"),
             ("aggregates", "supervisor_2", "/api/aggregates")]
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        async def one() -> None:
            name, who, path = rng.choice(calls)
            url = path.format(offset=rng.randint(0, 5000), case=rng.choice(case_ids))
            t = time.perf_counter()
            response = await client.get(url, headers={"Authorization": f"Bearer {made[who][0]}"})
            timings.setdefault(name, []).append(time.perf_counter() - t)
            assert response.status_code == 200, (url, response.status_code)

        for _ in range(requests // 8):
            await asyncio.gather(*(one() for _ in range(8)))
    service.sample()
    await service.stop()
    ms = {name: {k: round(v * 1000, 1) for k, v in percentiles(values).items()} for name, values in timings.items()}
    every = [v for values in timings.values() for v in values]
    return {"cases": count, "requests": len(every), "concurrency": 8, "ready_after_seconds": round(ready_after, 1),
            "board_catch_up_seconds": board["caught_up_after_seconds"], "board_cases": board["cases"],
            "p99_ms": round(percentiles(every)["p99"] * 1000, 1), "by_endpoint_ms": ms,
            "peak_rss_mib": round(service.peak_rss / 2**20)}


async def run(settings: Settings | None = None, *, cases: int = 100_000, projection_cases: int = 2000,
              requests: int = 2000) -> dict[str, Any]:
    base = settings or Settings()
    first, second = (fresh_settings(kafka_bootstrap=base.kafka_bootstrap, mongo_uri=base.mongo_uri)
                     for _ in range(2))
    for fresh in (first, second):
        await admit(fresh)  # status signs in as itself: the catalogue's ACLs on these topics
    try:
        figures = {"projection": await projection(first, projection_cases, port=free_port())}
        figures["dashboard_api"] = await api(second, cases, requests, port=free_port())
        return figures
    finally:
        await forget(first)
        await forget(second)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2))
