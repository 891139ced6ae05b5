"""The kit's behaviour suite on the in-memory fakes (the same bodies run on FerretDB)."""

from __future__ import annotations

import pytest
from pymongo import IndexModel

from shared.kit.memory import MemoryAggregateStore, MemoryBackend
from tests.support.kit_behaviour import StoreBehaviour, TimerIndexBehaviour, WorkflowBehaviour


class InMemory:
    @pytest.fixture
    def store(self) -> MemoryAggregateStore:
        return MemoryAggregateStore()

    @pytest.fixture
    def unique_store(self) -> MemoryAggregateStore:
        return MemoryBackend().aggregates("coded", [IndexModel("state.code", name="code", unique=True)])


class TestMemoryStore(InMemory, StoreBehaviour):
    pass


class TestMemoryTimerIndex(InMemory, TimerIndexBehaviour):
    pass


class TestWorkflowInMemory(InMemory, WorkflowBehaviour):
    pass
