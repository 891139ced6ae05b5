"""The unit tier needs no servers: any attempt to reach Kafka or the database fails at once."""

from __future__ import annotations

import pytest

NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(autouse=True)
def no_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_KAFKA_BOOTSTRAP", NOWHERE)
    monkeypatch.setenv("CASEWORK_MONGO_URI", f"mongodb://{NOWHERE}/?directConnection=true&serverSelectionTimeoutMS=200")
