"""A compacted registration topic kept in a collection: the roster, the provider directory.

Such a topic is keyed by the registered party's id: the last registration wins and a null
value (a tombstone) removes the party. Each document remembers the offset it came from (one
key stays on one partition), so a redelivery, a replay or a late duplicate never overwrites
something newer, and applying the same records twice leaves what applying them once did.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.inbound import ProviderRegistered
from shared.kit import Inbound
from shared.kit.inbound import TopicReader
from shared.settings import Settings
from shared.topicread import events_to_end

# The provider directory's topic as the services that keep it read it at start-up.
PROVIDERS = TopicReader(ProviderRegistered.TOPIC, (ProviderRegistered,), strict_types=True, tombstones=True)


async def apply(collection: AsyncCollection[dict[str, Any]], events: Iterable[Inbound],
                kept: Iterable[str]) -> list[str]:
    """Record each key's last registration or removal among ``events`` (in offset order),
    keeping only the ``kept`` fields; return the keys whose document changed."""
    latest: dict[str, Inbound] = {}
    for event in events:
        latest[event.key or event.subject or ""] = event
    fields = set(kept)
    return [key for key, event in latest.items() if key and await _record(collection, key, event, fields)]


async def caught_up(collection: AsyncCollection[dict[str, Any]], reader: TopicReader, kept: Iterable[str],
                    settings: Settings, *, principal: str) -> list[str]:
    """The whole compacted topic applied, before the service consumes anything else: the first
    decisions after a start see every change made while it was away (its subscriber then
    reads those records again, which changes nothing)."""
    events = await events_to_end(settings, reader, principal=principal,
                                 client_id=f"casework-{principal}-{reader.topic.replace('.', '-')}")
    return await apply(collection, events, kept)


async def _record(collection: AsyncCollection[dict[str, Any]], key: str, event: Inbound, kept: set[str]) -> bool:
    entry: dict[str, Any] = {"offset": event.offset, "removed": event.data is None}
    if event.data is not None:
        entry |= event.data.model_dump(mode="json", include=kept)
    try:
        result = await collection.update_one({"_id": key, "offset": {"$lt": event.offset}}, {"$set": entry},
                                             upsert=True)
    except DuplicateKeyError:
        return False  # something newer is already recorded
    return bool(result.matched_count or result.upserted_id is not None)
