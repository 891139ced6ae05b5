"""Fixtures: each test gets its own topic prefix and databases on the real servers."""

from __future__ import annotations

import io
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from casework.namespace import forget
from shared import logging as caselog
from shared.settings import KitSettings, Settings
from tests.support import acls
from tests.support.kafka import Bus

ROOT = Path(__file__).resolve().parents[1]

# The tests run on this machine, on loopback: development, said explicitly (production is
# the default, shared/environment.py). Settings built in a test read it, and so does every
# process a test starts (its environment, or ``settings.as_environment()``). A test of
# production says ``Settings(environment="production")``.
os.environ["CASEWORK_ENVIRONMENT"] = "development"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/e2e/" in path:
            item.add_marker(pytest.mark.e2e)


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def infra() -> None:
    """The real Kafka and FerretDB must be up: these tests never fall back to fakes."""
    missing = [name for name, port in (("Kafka", 9092), ("FerretDB", 27017)) if not _answers(port)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not answering: run `make infra-up` (or `make test`)")


@pytest.fixture
def settings(infra: None) -> Iterator[Settings]:
    """A test's own topic prefix and databases; the services it runs sign in as themselves and may
    do on its topics what the catalogue's ACLs allow them (tests/support/acls.py), nothing else."""
    tag = uuid.uuid4().hex[:8]
    settings = Settings(topic_prefix=f"t{tag}.", db_prefix=f"t{tag}_",
                        kit=KitSettings(timer_sweep_seconds=0.2, outbox_relay_seconds=0.5, batch_timeout_ms=20,
                                        fetch_max_wait_ms=50))
    with acls.granted(settings.topic_prefix):
        yield settings


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    bus = Bus(settings)
    await bus.start()
    yield bus
    await bus.stop()
    await forget(settings)


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient]:
    """A client of the test's own, usable after the services under test have stopped."""
    client = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def logs() -> io.StringIO:
    """Everything the code under test logs (structlog and stdlib), at DEBUG."""
    stream = io.StringIO()
    caselog.configure("DEBUG", stream=stream)
    return stream


@pytest.fixture
def proc_logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
