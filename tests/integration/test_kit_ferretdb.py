"""The kit's behaviour suite on FerretDB (the same bodies run on the in-memory fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient, IndexModel

from shared.kit.store import MongoAggregateStore
from shared.settings import Settings
from tests.support.kit_behaviour import StoreBehaviour, TimerIndexBehaviour, WorkflowBehaviour


class OnFerretDB:
    @pytest.fixture
    async def store(self, settings: Settings, mongo: AsyncMongoClient) -> AsyncIterator[MongoAggregateStore]:
        store = MongoAggregateStore(mongo[settings.database("kit")]["aggregates"])
        await store.ensure_indexes()
        yield store
        await mongo.drop_database(settings.database("kit"))

    @pytest.fixture
    async def unique_store(self, store: MongoAggregateStore) -> MongoAggregateStore:
        coded = MongoAggregateStore(store.collection.database["coded"], [IndexModel("state.code", name="code",
                                                                                     unique=True)])
        await coded.ensure_indexes()
        return coded


class TestMongoStore(OnFerretDB, StoreBehaviour):
    pass


class TestMongoTimerIndex(OnFerretDB, TimerIndexBehaviour):
    pass


class TestWorkflowOnFerretDB(OnFerretDB, WorkflowBehaviour):
    pass
