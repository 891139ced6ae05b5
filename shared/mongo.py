"""MongoDB through PyMongo's native asyncio API (``AsyncMongoClient``).

Motor reached end of life in May 2026; PyMongo's async client is its maintained
successor, with the same driver underneath and no thread pool. The code keeps to what
FerretDB 1.24 and MongoDB 7+ both do: single-document atomic updates, no transactions,
no change streams, no TTL indexes.
"""

from __future__ import annotations

from pymongo import AsyncMongoClient

from shared.settings import Settings


def make_client(settings: Settings) -> AsyncMongoClient:
    return AsyncMongoClient(
        settings.mongo_uri,
        tz_aware=True,
        connect=False,
        serverSelectionTimeoutMS=10_000,
        appname="casework",
    )
