"""MongoDB through PyMongo's native asyncio API (``AsyncMongoClient``).

Motor reached end of life in May 2026; PyMongo's async client is its maintained
successor, with the same driver underneath and no thread pool. The code keeps to what
FerretDB 1.24 and MongoDB 7+ both do: single-document atomic updates, no transactions,
no change streams, no TTL indexes.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from pymongo import AsyncMongoClient, IndexModel, InsertOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.results import BulkWriteResult

from shared.settings import Settings

COMMANDS = Counter("casework_db_commands_total", "Database commands sent, by database and command",
                   ["database", "command", "outcome"])
OPERATIONS = Counter("casework_db_operations_total",
                     "Document operations sent: one per read, and one per document a write command carries",
                     ["database", "command"])
COMMAND_SECONDS = Histogram("casework_db_command_seconds", "Database command round trips", ["command"],
                            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


# The field of a write command that lists its operations (each a document written or removed).
_BATCHED = {"insert": "documents", "update": "updates", "delete": "deletes"}


class CommandMetrics(monitoring.CommandListener):
    """Counts and times every database command, so ``/metrics`` shows where the time goes."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        batch = _BATCHED.get(name)
        count = len(event.command.get(batch) or ()) if batch else 1
        OPERATIONS.labels(event.database_name or "", name).inc(count)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._note(event, "ok")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._note(event, "error")

    @staticmethod
    def _note(event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent, outcome: str) -> None:
        COMMANDS.labels(getattr(event, "database_name", "") or "", event.command_name, outcome).inc()
        COMMAND_SECONDS.labels(event.command_name).observe(event.duration_micros / 1e6)


# FerretDB 1.24 (SQLite) gives each database a pool of 100 SQL connections, and an update
# command keeps one per statement until the whole command ends; a command that creates a
# collection or an index meanwhile holds the metadata lock while it waits for a connection,
# and the statements waiting for that lock never give theirs back: the database hangs for
# good (seen after a service was killed mid-batch and its successor created its indexes
# while the old commands still ran). So each process keeps far below 100: at most
# POOL_SIZE commands at once, of which BULK_COMMANDS_AT_ONCE bulk writes of at most
# MAX_UPDATES_PER_COMMAND statements — 42 connections at worst, two overlapping
# processes (a restart) included still below the limit.
POOL_SIZE = 24
MAX_UPDATES_PER_COMMAND = 10
MAX_INSERTS_PER_COMMAND = 100
BULK_COMMANDS_AT_ONCE = 2
DUPLICATE_KEY = 11000  # the server error code of a unique-index violation
_bulk_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def chunks(items: Sequence[Any], size: int = MAX_UPDATES_PER_COMMAND) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def batches(operations: Sequence[Any]) -> list[list[Any]]:
    """Bulk commands for these operations: inserts together, up to ``MAX_INSERTS_PER_COMMAND``
    (an insert command is one SQLite transaction, holding one connection), the rest in
    commands of ``MAX_UPDATES_PER_COMMAND`` (see above)."""
    inserts = [op for op in operations if isinstance(op, InsertOne)]
    others = [op for op in operations if not isinstance(op, InsertOne)]
    return chunks(inserts, MAX_INSERTS_PER_COMMAND) + chunks(others)


async def bulk_write(collection: AsyncCollection[dict[str, Any]], operations: list[Any], *,
                     ordered: bool) -> BulkWriteResult:
    """One bulk command: at most ``MAX_UPDATES_PER_COMMAND`` operations, or only inserts."""
    limit = MAX_INSERTS_PER_COMMAND if all(isinstance(op, InsertOne) for op in operations) else \
        MAX_UPDATES_PER_COMMAND
    assert len(operations) <= limit, len(operations)
    loop = asyncio.get_running_loop()
    slots = _bulk_slots.get(loop)
    if slots is None:
        slots = _bulk_slots[loop] = asyncio.Semaphore(BULK_COMMANDS_AT_ONCE)
    async with slots:
        return await collection.bulk_write(operations, ordered=ordered)


async def ensure_indexes(collection: AsyncCollection[dict[str, Any]], indexes: Iterable[IndexModel]) -> None:
    """Create each index, one ``createIndexes`` command per index: idempotent on both servers.

    FerretDB 1.24 panics and drops the connection when one command asks for several indexes
    of which some already exist (a service's second start), so the batch form is never used.
    """
    for index in indexes:
        await collection.create_indexes([index])


def make_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongo_uri,
        tz_aware=True,
        connect=False,
        serverSelectionTimeoutMS=10_000,
        appname="casework",
        maxPoolSize=POOL_SIZE,
        event_listeners=[CommandMetrics()],
    )


async def find_by_ids(collection: AsyncCollection[dict[str, Any]], ids: Iterable[str],
                      projection: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Documents by ``_id``, one lookup each, concurrently.

    FerretDB pushes only an ``_id`` equality down to its SQLite index; ``{"_id": {"$in":
    ids}}`` reads the whole collection there, so its cost would grow with history.
    """
    docs = await asyncio.gather(*(collection.find_one({"_id": i}, projection) for i in dict.fromkeys(ids)))
    return {d["_id"]: d for d in docs if d}
