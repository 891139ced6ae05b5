"""The database alone: what one document operation costs, to read the pipeline's profile by.

The kit's operations, nothing else: a read by ``_id``, and the guarded update that writes
an aggregate (``{_id, version}`` filter, ``$set`` of state, seen ids and outbox), on
documents the size of a real case file, from several concurrent clients like the
services. Reported: operations per second, and the database server's CPU time per
operation (the pipeline profile gives the operations each encounter needs).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from pymongo import AsyncMongoClient

from bench.common import cpu_seconds, fresh_settings, server_pids
from shared.settings import Settings

CLIENTS = 8


def _aggregate(i: int) -> dict[str, Any]:
    return {"_id": f"case-{i:06d}", "version": 1, "seen": [str(uuid.uuid4()) for _ in range(4)], "outbox": [],
            "state": {"case_id": f"case-{i:06d}", "agency": "TX-DPS", "region": "US-TX", "priority": "high",
                      "languages": ["es", "en"], "urgent_needs": ["medical"],
                      "screening": {"labor": 2, "control": 1, "encounter": 1}, "notes": "x" * 1200}}


def _server_cpu() -> float:
    pid = server_pids().get("ferretdb")
    return cpu_seconds({"ferretdb": pid})["ferretdb"] if pid else float("nan")


async def _timed(label: str, operations: int, work: Any) -> dict[str, Any]:
    cpu, started = _server_cpu(), time.perf_counter()
    await work
    elapsed, cpu = time.perf_counter() - started, _server_cpu() - cpu
    return {f"{label}_per_s": round(operations / elapsed),
            f"{label}_server_cpu_ms_each": round(cpu * 1000 / operations, 2)}


async def run(settings: Settings | None = None, *, documents: int = 4000) -> dict[str, Any]:
    config = fresh_settings(mongo_uri=(settings or Settings()).mongo_uri)
    client: AsyncMongoClient = AsyncMongoClient(config.mongo_uri)
    collection = client[config.database("dbbench")]["aggregates"]
    ids = [f"case-{i:06d}" for i in range(documents)]
    lanes = [ids[k::CLIENTS] for k in range(CLIENTS)]
    try:
        await collection.insert_many([_aggregate(i) for i in range(documents)])

        async def read(lane: list[str]) -> None:
            for _id in lane:
                await collection.find_one({"_id": _id})

        async def update(lane: list[str]) -> None:
            for _id in lane:
                outbox = [{"id": str(uuid.uuid4()), "topic": "referrals.events", "body": "y" * 600}]
                done = await collection.update_one(
                    {"_id": _id, "version": 1},
                    {"$set": {"version": 2, "state.priority": "urgent", "outbox": outbox},
                     "$push": {"seen": str(uuid.uuid4())}})
                assert done.modified_count == 1

        figures = {"documents": documents, "concurrent_clients": CLIENTS,
                   "document_bytes": len(json.dumps(_aggregate(0)))}
        figures |= await _timed("read_by_id", documents, asyncio.gather(*(read(lane) for lane in lanes)))
        figures |= await _timed("guarded_update", documents, asyncio.gather(*(update(lane) for lane in lanes)))
        return figures
    finally:
        await client.drop_database(config.database("dbbench"))
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2))
