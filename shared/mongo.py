"""MongoDB through PyMongo's native asyncio API (``AsyncMongoClient``).

Motor reached end of life in May 2026; PyMongo's async client is its maintained
successor, with the same driver underneath and no thread pool. The code keeps to what
FerretDB 1.24 and MongoDB 7+ both do: single-document atomic updates, no transactions,
no change streams, no TTL indexes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from shared.settings import Settings


def make_client(settings: Settings) -> AsyncMongoClient:
    return AsyncMongoClient(
        settings.mongo_uri,
        tz_aware=True,
        connect=False,
        serverSelectionTimeoutMS=10_000,
        appname="casework",
    )


async def find_by_ids(collection: AsyncCollection, ids: Iterable[str],
                      projection: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Documents by ``_id``, one lookup each, concurrently.

    FerretDB pushes only an ``_id`` equality down to its SQLite index; ``{"_id": {"$in":
    ids}}`` reads the whole collection there, so its cost would grow with history.
    """
    docs = await asyncio.gather(*(collection.find_one({"_id": i}, projection) for i in dict.fromkeys(ids)))
    return {d["_id"]: d for d in docs if d}
