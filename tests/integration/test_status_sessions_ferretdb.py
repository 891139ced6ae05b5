"""The session store's behaviour suite on FerretDB (the same bodies run on the memory store)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from starsessions import generate_session_id

from services.status.sessions import COLLECTION, MongoSessionStore, key
from shared.kit import FakeClock
from shared.settings import Settings
from tests.support.session_behaviour import LIFETIMES, MakeStore, SessionStoreBehaviour, data


class TestMongoSessionStore(SessionStoreBehaviour):
    @pytest.fixture
    async def make_store(self, settings: Settings, mongo: AsyncMongoClient) -> AsyncIterator[MakeStore]:
        yield lambda clock: MongoSessionStore(mongo[settings.database("status")][COLLECTION], clock, LIFETIMES)
        await mongo.drop_database(settings.database("status"))


async def test_the_database_holds_no_session_id_and_no_token(settings: Settings, mongo: AsyncMongoClient) -> None:
    collection = mongo[settings.database("status")][COLLECTION]
    store = MongoSessionStore(collection, FakeClock(), LIFETIMES)
    sid = generate_session_id()
    await store.write(sid, data(csrf="c" * 43), 0, 0)
    try:
        [doc] = await collection.find({}).to_list(None)
        assert doc["_id"] == key(sid) and sid not in str(doc)
        assert set(doc) == {"_id", "data", "seen_at", "idle_until", "created_at", "ends_at"}
        await store.remove(sid)
        [doc] = await collection.find({}).to_list(None)
        assert doc["data"] == ""  # ended: whose it was is gone at once, the record stays a while
    finally:
        await mongo.drop_database(settings.database("status"))
