"""The kit's behaviour suite on the in-memory fakes (the same bodies run on FerretDB)."""

from __future__ import annotations

import pytest

from shared.kit.memory import MemoryAggregateStore
from tests.support.kit_behaviour import StoreBehaviour, TimerIndexBehaviour, WorkflowBehaviour


class InMemory:
    @pytest.fixture
    def store(self) -> MemoryAggregateStore:
        return MemoryAggregateStore()


class TestMemoryStore(InMemory, StoreBehaviour):
    pass


class TestMemoryTimerIndex(InMemory, TimerIndexBehaviour):
    pass


class TestWorkflowInMemory(InMemory, WorkflowBehaviour):
    pass
