"""`make infra-down && make infra-up` keeps the data: Kafka is not reformatted, FerretDB's files stay."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.kafka import Bus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.alone  # it stops the servers every other test uses


def make(target: str) -> None:
    done = subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"make {target} failed:\n{done.stdout}\n{done.stderr}"


async def test_data_survives_a_restart_of_the_servers(settings, mongo) -> None:
    bus = Bus(settings)
    await bus.start()
    await bus.ensure("cases.status")
    await bus.publish("cases.status", b'{"kept": true}', key="case-kept")
    await bus.stop()
    await mongo[settings.database("restart")]["kept"].insert_one({"_id": "doc-1", "n": 42})

    make("infra-down")
    make("infra-up")

    bus = Bus(settings)
    await bus.start()
    try:
        records = await bus.read("cases.status", until=lambda r: len(r) >= 1, timeout=60)
        assert [(r.key, r.value) for r in records] == [(b"case-kept", b'{"kept": true}')]
        assert await mongo[settings.database("restart")]["kept"].find_one({"_id": "doc-1"}) == {"_id": "doc-1", "n": 42}
    finally:
        await bus.stop()
        await mongo.drop_database(settings.database("restart"))
