"""History for the "cost flat with history" run: every service's aggregates copied, as
finished cases, until each collection holds ``total`` earlier ones.

The copies are the documents a warm-up through the real pipeline left, under new ids, with
their outboxes and timers emptied (old cases whose work is done: no timer is due, nothing
waits to be published). Only the kit's aggregate collections are copied (those with a
``_watermarks`` or ``_timers`` sibling): a finished case holds no capacity slot, and
timer notes and watermarks belong to no finished case. Collections with a unique index
on another field take what they can (counted).
"""

from __future__ import annotations

import copy
from typing import Any

from pymongo import AsyncMongoClient, InsertOne
from pymongo.errors import BulkWriteError

from shared.settings import Settings

CHUNK = 1000


def finished(doc: dict[str, Any], n: int) -> dict[str, Any]:
    clone = copy.deepcopy(doc)
    clone["_id"] = f"{doc['_id']}~h{n:06d}"
    clone.pop("outbox", None)
    clone.pop("stamp", None)
    state = clone.get("state")
    if isinstance(state, dict) and "timers" in state:
        state["timers"] = {}
    return clone


async def seed(settings: Settings, services: list[str], total: int) -> dict[str, int]:
    """Bring every aggregate collection of these services to ``total`` documents."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
    inserted: dict[str, int] = {}
    try:
        for service in services:
            db = client[settings.database(service)]
            names = set(await db.list_collection_names())
            for name in sorted(names):
                if f"{name}_watermarks" in names or f"{name}_timers" in names:
                    inserted[f"{service}.{name}"] = await _fill(db[name], total)
    finally:
        await client.close()
    return inserted


async def _fill(collection: Any, total: int) -> int:
    models = [d async for d in collection.find({}).limit(500)]
    have = await collection.count_documents({})
    if not models or have >= total:
        return 0
    done, n = 0, 0
    while have + done < total:
        batch = []
        for _ in range(min(CHUNK, total - have - done)):
            batch.append(InsertOne(finished(models[n % len(models)], n)))
            n += 1
        try:
            result = await collection.bulk_write(batch, ordered=False)
            done += result.inserted_count
        except BulkWriteError as exc:  # a unique index on another field: those copies cannot exist
            done += exc.details.get("nInserted", 0)
            if not exc.details.get("nInserted"):
                break
    return done
