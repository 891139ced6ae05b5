"""Publishing to and reading from the real broker in tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.kafka import connection, ensure_topics, stopped
from shared.settings import Settings
from shared.topics import MAX_MESSAGE_BYTES


class Bus:
    """A producer and ad-hoc readers bound to one test's topic prefix."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(**connection(settings, "admin"), acks="all",
                                         enable_idempotence=True,
                                         max_request_size=MAX_MESSAGE_BYTES + 64 * 1024)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def ensure(self, *topics: str) -> None:
        await ensure_topics(self.settings, topics, principal="admin")

    async def publish(self, topic: str, event: dict[str, Any] | bytes | None, key: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
        """Publish an event (dict → JSON CloudEvent), raw bytes, or a tombstone (None)."""
        if isinstance(event, dict):
            key = key or event.get("subject") or (event.get("data") or {}).get("case_id")
            value: bytes | None = json.dumps(event).encode()
            headers = {"content-type": "application/cloudevents+json"} | (headers or {})
        else:
            value = event
        await self.producer.send_and_wait(
            self.settings.topic(topic), value, key=key.encode() if key else None,
            headers=[(k, v.encode()) for k, v in (headers or {}).items()])

    async def read(self, topic: str, *, until: Callable[[list[ConsumerRecord]], bool] | None = None,
                   timeout: float = 30.0, settle: float = 0.0) -> list[ConsumerRecord]:
        """Everything on a topic from the beginning, until ``until(records)`` holds or the timeout.

        With ``settle``, keep reading that many seconds after ``until`` first holds, to catch
        duplicates that must not be there.
        """
        consumer = AIOKafkaConsumer(self.settings.topic(topic), **connection(self.settings, "admin"),
                                    auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                                    fetch_max_wait_ms=50)  # its stop waits for the fetch in flight (TLS)
        await consumer.start()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        done_at: float | None = None
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    records.extend(recs)
                if done_at is None and (until(records) if until else False):
                    done_at = time.monotonic()
                if done_at is not None and time.monotonic() - done_at >= settle:
                    break
            return records
        finally:
            await stopped(consumer)

    async def events(self, topic: str, *, count: int | None = None,
                     where: Callable[[dict[str, Any]], bool] | None = None,
                     timeout: float = 30.0, settle: float = 0.0) -> list[dict[str, Any]]:
        """Decoded CloudEvents on a topic; waits for ``count`` of those matching ``where``."""
        def decode(recs: list[ConsumerRecord]) -> list[dict[str, Any]]:
            out = [json.loads(r.value) for r in recs if r.value]
            return [e for e in out if where is None or where(e)]
        records = await self.read(topic, until=(lambda recs: len(decode(recs)) >= count) if count is not None else None,
                                  timeout=timeout, settle=settle)
        return decode(records)


async def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async or sync check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(interval)


_UNDECODABLE = """
import asyncio, os, sys
from aiokafka import AIOKafkaProducer
from shared.kafka import connection
from shared.settings import Settings

class NotUtf8(str):  # a header name as a client that is not aiokafka may write it
    def encode(self, *args, **kwargs):
        return b"\\xff\\xfe" + str(self).encode()

async def main():
    producer = AIOKafkaProducer(**connection(Settings(kafka_bootstrap=sys.argv[1]), "admin"), acks="all")
    await producer.start()
    await producer.send_and_wait(sys.argv[2], sys.stdin.buffer.read(), key=sys.argv[3].encode(),
                                 headers=[(NotUtf8("trace"), b"1")])
    await producer.stop()

asyncio.run(main())
"""


def publish_undecodable(settings: Settings, topic: str, value: bytes, key: str) -> None:
    """A record whose header name is not UTF-8, which aiokafka cannot decode: written by aiokafka's
    pure-Python record builder (the only one that can be made to), in a process of its own."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _UNDECODABLE, settings.kafka_bootstrap, settings.topic(topic), key],
                          input=value, capture_output=True, env=os.environ | {"AIOKAFKA_NO_EXTENSIONS": "1"},
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
