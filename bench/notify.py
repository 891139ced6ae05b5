"""Notify benchmark: notifications per second into the SMTP sink, and event -> mail latency.

``await run(settings)`` starts the notify service and the project's SMTP sink in this
process, against the real Kafka and MongoDB of ``settings``, under a topic and database
prefix of its own (removed afterwards). Two phases, each on ``referral_assigned`` to one
specialist (one mail per event):

* throughput: a burst of events published at once; notifications/s from the first publish
  to the last mail the sink accepted;
* latency: events offered at a fixed rate (half the throughput just measured, so the queue
  stays short); p50/p99/max from each publish to its mail accepted by the sink.

``python -m bench.notify`` prints the figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from casework.namespace import admit, forget
from services.notify.app import bootstrap
from services.notify.sink import Sink
from services.notify.state import notification_id
from shared.cloudevents import encode, new_event
from shared.contracts.inbound import SpecialistRegistered
from shared.contracts.referrals import ReferralAssigned
from shared.kafka import connection, ensure_topics
from shared.kit import Inbound
from shared.settings import Settings

BURST = 400
LOAD = 0.5  # the latency phase offers this fraction of the measured throughput
LATENCY_EVENTS = 200
SPECIALIST = "bench-specialist"


class Accepted:
    """When the sink accepted the mail of each notification (monotonic seconds)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = asyncio.Event()

    def __call__(self, message_id: str, _: bytes) -> None:
        self.at.setdefault(message_id.strip("<>").split(".")[0], time.monotonic())
        self.changed.set()

    async def wait_for(self, ids: set[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not ids <= self.at.keys():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(ids - self.at.keys())} notifications not delivered in {within} s")
            await asyncio.wait_for(self.changed.wait(), left)


def _roster() -> bytes:
    payload = SpecialistRegistered.model_validate({
        "specialist_id": SPECIALIST, "agency_id": "BENCH", "name": "Bench Specialist",
        "email": "bench@victim-services.example.org", "regions": ["US-TX"], "role": "victim_specialist",
        "on_duty": True, "max_active_cases": 10_000}, strict=False)
    return encode(new_event(payload, event_id=str(uuid.uuid4()), source="bench", time=datetime.now(UTC)))


def _assigned(case_id: str) -> tuple[str, bytes]:
    now = datetime.now(UTC)
    payload = ReferralAssigned.model_validate({
        "case_id": case_id, "agency_id": "BENCH", "region": "US-TX", "priority": "urgent", "escalations": 0,
        "referral_id": f"ref-{case_id}", "specialist_id": SPECIALIST, "assigned_at": now,
        "ack_due_at": now + timedelta(minutes=5), "attempt": 1, "language_match": True}, strict=False)
    event_id = str(uuid.uuid4())
    cause = Inbound(id=event_id, type=payload.TYPE, data=payload, source="bench")
    return notification_id(cause), encode(new_event(payload, event_id=event_id, source="bench", time=now))


async def _burst(producer: AIOKafkaProducer, topic: str, accepted: Accepted, count: int) -> dict[str, Any]:
    events = [(f"case-b{i}", *_assigned(f"case-b{i}")) for i in range(count)]
    started = time.monotonic()
    for case_id, _, value in events:
        await producer.send(topic, value, key=case_id.encode())
    await producer.flush()
    ids = {nid for _, nid, _ in events}
    await accepted.wait_for(ids, within=120 + count / 2)
    elapsed = max(accepted.at[i] for i in ids) - started
    return {"notifications": count, "seconds": round(elapsed, 3),
            "notifications_per_second": round(count / elapsed, 1)}


async def _paced(producer: AIOKafkaProducer, topic: str, accepted: Accepted, count: int,
                 rate: float) -> dict[str, Any]:
    published: dict[str, float] = {}
    start = time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        nid, value = _assigned(f"case-l{i}")
        published[nid] = time.monotonic()
        await producer.send_and_wait(topic, value, key=f"case-l{i}".encode())
    await accepted.wait_for(set(published), within=120)
    latencies = sorted((accepted.at[nid] - at) * 1000 for nid, at in published.items())
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)  # noqa: E731
    return {"offered_per_second": rate, "notifications": count, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
            "max_ms": round(latencies[-1], 1)}


async def run(settings: Settings) -> dict[str, Any]:
    tag = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as outbox:
        accepted = Accepted()
        sink = Sink(Path(outbox), on_message=accepted)
        await sink.start(settings.notify.smtp.host, 0)  # a free port of its own
        config = settings.amended(topic_prefix=f"{tag}.", db_prefix=f"{tag}_", notify={"smtp": {"port": sink.port}})
        await admit(config)  # notify signs in as itself: the catalogue's ACLs on these topics
        await ensure_topics(config, ["roster.specialists", "referrals.events"], principal="admin")
        producer = AIOKafkaProducer(**connection(config, "admin"), acks="all", linger_ms=5)
        await producer.start()
        try:
            await producer.send_and_wait(config.topic("roster.specialists"), _roster(), key=SPECIALIST.encode())
            async with bootstrap(config).app:
                topic = config.topic("referrals.events")
                await _burst(producer, topic, accepted, 20)  # warm up: connections, caches, JIT-free paths
                throughput = await _burst(producer, topic, accepted, BURST)
                rate = max(1.0, round(throughput["notifications_per_second"] * LOAD, 1))
                latency = await _paced(producer, topic, accepted, LATENCY_EVENTS, rate)
        finally:
            await producer.stop()
            await sink.stop()
            await forget(config)
    return {"benchmark": "notify", "throughput": throughput, "latency": latency}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(Settings())), indent=2))
