"""Intake throughput against a raw aiokafka consume → produce loop over the same messages."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import ServiceProcess, fresh_settings, produce_all, sampling, wait_for
from casework.namespace import admit, forget
from shared.kafka import connection, ensure_topics
from shared.settings import Settings


def encounter(encounter_id: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "agency/BENCH", "subject": encounter_id,
            "type": "casework.encounter.reported.v1",
            "data": {"encounter_id": encounter_id,
                     "agency": {"id": "TX-DPS", "name": "Texas DPS", "level": "state"},
                     "reported_by": {"officer_id": "officer-1"}, "occurred_at": "2026-11-30T08:00:00Z",
                     "region": "US-TX", "person": {"given_name": "Bench", "languages": ["es"],
                                                   "interpreter_needed": True, "age_estimate": 30},
                     "indicators": ["control.documents_held_by_another", "labor.excessive_hours"],
                     "urgent_needs": ["shelter"], "narrative": "benchmark encounter"}}


async def raw_loop(source: Settings, sink: Settings, count: int) -> float:
    """The same hop with no work: read, parse, publish one event out per message, commit per batch."""
    consumer = AIOKafkaConsumer(source.topic("encounters.reported"), **connection(source, "admin"),
                                group_id=f"raw-{uuid.uuid4().hex[:6]}", enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=500)
    producer = AIOKafkaProducer(**connection(sink, "admin"), acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    done, started = 0, None
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            records = [r for recs in batch.values() for r in recs]
            if not records:
                continue
            started = started or time.perf_counter()
            futures = []
            for r in records:
                event = json.loads(r.value)
                out = json.dumps({"id": str(uuid.uuid4()), "data": {"encounter_id": event["data"]["encounter_id"]}})
                futures.append(await producer.send(sink.topic("cases.opened"), out.encode(), key=r.key))
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(records)
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def run(count: int = 5000) -> dict[str, Any]:
    settings, raw = fresh_settings(), fresh_settings()
    await admit(settings)  # intake signs in as itself: the catalogue's ACLs on these topics
    try:
        await ensure_topics(settings, ["encounters.reported", "cases.opened", "encounters.reported.dlq",
                                       "intake.events"], principal="admin")
        await ensure_topics(raw, ["cases.opened"], principal="admin")
        await produce_all(settings, "encounters.reported",
                          [(f"ENC-B-{i}", encounter(f"ENC-B-{i}")) for i in range(count)])
        raw_rate = await raw_loop(settings, raw, count)

        intake = ServiceProcess("intake", settings, port=18081)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sampling([intake], stop))
        await intake.start()
        opened = await wait_for(settings, "cases.opened", count)
        stop.set()
        await sampler
        await intake.stop()
        times = sorted(datetime.fromisoformat(json.loads(r.value)["data"]["opened_at"]) for r in opened)
        elapsed = (times[-1] - times[0]).total_seconds() or float("nan")
        intake_rate = (len(opened) - 1) / elapsed
        return {"encounters": count, "raw_per_s": round(raw_rate), "intake_per_s": round(intake_rate),
                "ratio": round(intake_rate / raw_rate, 2), "intake_peak_rss_mib": round(intake.peak_rss / 2**20)}
    finally:
        await forget(settings)
        await forget(raw)


if __name__ == "__main__":
    print(asyncio.run(run()))
