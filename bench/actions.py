"""The dashboard's action routes under load: requests/s and p50/p90/p99 at concurrency 8.

2,000 cases in the read model, each accepted by one of 50 specialists; the status service
runs as its own process on the real broker and FerretDB. The mix: the holder records a
milestone, a supervisor closes, another specialist is refused (403), a bad body (422).
Every answered request has published its event and its audit record, acknowledged by the
broker, before it answers.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx

from bench.common import ServiceProcess, fresh_settings, percentiles
from bench.status import seed
from casework.namespace import admit, forget
from services.status.access import Role, new_token
from shared.settings import Settings
from tests.support.procs import free_port

CONCURRENCY = 8
SPECIALISTS = 400  # bench.status.seed gives case i to sp-(i % 400)


async def load(settings: Settings, cases: int, requests: int, port: int) -> dict[str, Any]:
    case_ids = await seed(settings, cases)
    made = {f"sp-{i}": new_token(f"b-sp-{i}", Role.SPECIALIST, [], f"sp-{i}") for i in range(SPECIALISTS)}
    made["supervisor"] = new_token("b-sup", Role.SUPERVISOR, ["*"], "sup-bench")
    tokens = json.dumps([p.model_dump(mode="json") for _, p in made.values()])
    service = ServiceProcess("status", settings.amended(status={"dashboard_tokens": tokens}), port=port)
    await service.start()
    await service.ready(timeout=300)
    rng = random.Random(3)
    timings: dict[str, list[float]] = {}
    answers: dict[int, int] = {}

    def call(i: int) -> tuple[str, str, str, dict[str, Any]]:
        case = rng.choice(case_ids)
        holder = f"sp-{int(case.rsplit('-', 1)[1]) % SPECIALISTS}"
        kind = rng.choices(["milestone", "close", "refused", "bad body"], weights=[6, 2, 1, 1])[0]
        if kind == "milestone":
            return kind, holder, f"/api/cases/{case}/milestones", {"milestone": {"kind": "rights_explained"}}
        if kind == "close":
            return kind, "supervisor", f"/api/cases/{case}/close", {"reason": "services_completed"}
        if kind == "refused":
            other = f"sp-{(int(holder[3:]) + 1) % SPECIALISTS}"
            return kind, other, f"/api/cases/{case}/milestones", {"milestone": {"kind": "rights_explained"}}
        return kind, holder, f"/api/cases/{case}/close", {"reason": 7}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        async def worker(share: list[int]) -> None:
            for i in share:
                kind, who, path, body = call(i)
                t = time.perf_counter()
                response = await client.post(path, json=body, headers={"Authorization": f"Bearer {made[who][0]}"})
                timings.setdefault(kind, []).append(time.perf_counter() - t)
                answers[response.status_code] = answers.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(list(range(w, requests, CONCURRENCY))) for w in range(CONCURRENCY)))
        wall = time.perf_counter() - started
    service.sample()
    await service.stop()
    every = [v for values in timings.values() for v in values]
    return {"cases": cases, "requests": len(every), "concurrency": CONCURRENCY,
            "requests_per_s": round(len(every) / wall), "p50_ms": round(percentiles(every)["p50"] * 1000, 1),
            "p99_ms": round(percentiles(every)["p99"] * 1000, 1),
            "by_kind_p99_ms": {k: round(percentiles(v)["p99"] * 1000, 1) for k, v in sorted(timings.items())},
            "answers": {str(k): v for k, v in sorted(answers.items())},
            "peak_rss_mib": round(service.peak_rss / 2**20)}


async def run(settings: Settings | None = None, *, cases: int = 2000, requests: int = 2000) -> dict[str, Any]:
    base = settings or Settings()
    fresh = fresh_settings(kafka_bootstrap=base.kafka_bootstrap, mongo_uri=base.mongo_uri)
    await admit(fresh)  # the services sign in as themselves: the catalogue's ACLs on these topics
    try:
        return await load(fresh, cases, requests, port=free_port())
    finally:
        await forget(fresh)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2))
