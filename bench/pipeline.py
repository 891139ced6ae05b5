"""The whole pipeline against a raw aiokafka chain with the same hops (DESIGN §6).

(a) three raw hops — encounters.reported → cases.opened → referrals.events →
notifications.events — each its own process, doing nothing but read, publish, commit;
(b) every casework service as its own ``faststream run`` process, from
``encounters.reported`` to a referral mail accepted by an SMTP sink. Both are fed the same
way: N encounters published as fast as possible into an idle, warmed-up system; the rate
is N over the time from the first publish to the last output. Then, on the real
pipeline, latency from publishing an encounter to its referral mail at a fixed offered
rate, and each service's peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import ServiceProcess, cleanup, fresh_settings, percentiles, producer, sampling, wait_for
from bench.intake import encounter
from services.notify.sink import Sink
from shared.kafka import ensure_topics
from shared.settings import Settings
from shared.topics import CATALOGUE, dlq

SERVICES = ["intake", "referral", "stabilization", "certification", "notify", "status"]
RAW_HOPS = [("encounters.reported", "cases.opened"), ("cases.opened", "referrals.events"),
            ("referrals.events", "notifications.events")]
CASE = re.compile(rb"case-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def specialist(index: int) -> dict[str, Any]:
    sid = f"bench-vs-{index:02d}"
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "casework/roster", "subject": sid,
            "type": "casework.specialist.registered.v1",
            "data": {"specialist_id": sid, "agency_id": "TX-DPS", "name": f"Bench Specialist {index}",
                     "email": f"{sid}@victim-services.example.org", "languages": ["en", "es"], "regions": ["*"],
                     "role": "victim_specialist", "on_duty": True, "max_active_cases": 100_000}}


async def publish_now(p: AIOKafkaProducer, settings: Settings, count: int, tag: str,
                      sent: dict[str, float] | None = None) -> None:
    futures = []
    for i in range(count):
        eid = f"ENC-{tag}-{i}"
        if sent is not None:
            sent[eid] = time.perf_counter()
        futures.append(await p.send(settings.topic("encounters.reported"), json.dumps(encounter(eid)).encode(),
                                    key=eid.encode()))
    await asyncio.gather(*futures)


async def raw_chain(count: int) -> float:
    settings = fresh_settings()
    await ensure_topics(settings, ["encounters.reported", "cases.opened", "referrals.events", "notifications.events"])
    hops = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.rawhop", settings.topic_prefix, source, sink, f"rawhop-{uuid.uuid4().hex[:6]}")
        for source, sink in RAW_HOPS]
    try:
        await asyncio.sleep(5)  # group joins
        p = await producer(settings)
        await publish_now(p, settings, 200, "warm")
        await wait_for(settings, "notifications.events", 200)
        started = time.perf_counter()
        await publish_now(p, settings, count, "raw")
        await p.stop()
        await wait_for(settings, "notifications.events", 200 + count)
        return count / (time.perf_counter() - started)
    finally:
        for hop in hops:
            hop.terminate()
            await hop.wait()
        await cleanup(settings)


class Mailbox:
    """The SMTP sink the referral mails land in, noting when each case's mail arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0

    def on_message(self, _: str, content: bytes) -> None:
        if b"Referral assigned" in content.split(b"\r\n\r\n", 1)[0]:
            self.count += 1
            for case in set(CASE.findall(content)):
                self.arrived.setdefault(case.decode(), time.perf_counter())

    async def until(self, count: int, timeout: float = 300) -> None:
        deadline = time.perf_counter() + timeout
        while self.count < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)


async def pipeline(count: int, rate: float, seconds: float) -> dict[str, Any]:
    mailbox = Mailbox()
    sink = Sink(Path(tempfile.mkdtemp(prefix="casework-bench-outbox-")), on_message=mailbox.on_message)
    smtp_port = free_port()
    await sink.start("127.0.0.1", smtp_port)
    settings = fresh_settings(smtp_port=smtp_port, dashboard_port=free_port())
    topics = [t for t in CATALOGUE] + [dlq(t) for t in CATALOGUE]
    await ensure_topics(settings, topics)
    p = await producer(settings)
    roster = [specialist(i) for i in range(20)]
    for event in roster:
        await p.send_and_wait(settings.topic("roster.specialists"), json.dumps(event).encode(),
                              key=event["subject"].encode())
    procs = [ServiceProcess(name, settings, settings.dashboard_port if name == "status" else free_port())
             for name in SERVICES]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sampling(procs, stop))
    try:
        for proc in procs:
            await proc.start()
        for proc in procs:
            await proc.ready()
        await publish_now(p, settings, 200, "warm")
        await mailbox.until(200)

        # latency at a fixed offered rate
        sent: dict[str, float] = {}
        total = int(rate * seconds)
        start = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            eid = f"ENC-lat-{i}"
            sent[eid] = time.perf_counter()
            await p.send(settings.topic("encounters.reported"), json.dumps(encounter(eid)).encode(), key=eid.encode())
        await mailbox.until(200 + total)
        opened = await wait_for(settings, "cases.opened", 200 + total)
        case_of = {json.loads(r.value)["data"]["encounter_id"]: json.loads(r.value)["data"]["case_id"] for r in opened}
        latencies = [mailbox.arrived[case_of[e]] - t for e, t in sent.items()
                     if e in case_of and case_of[e] in mailbox.arrived]

        # throughput: a burst into the idle system
        before = mailbox.count
        started = time.perf_counter()
        await publish_now(p, settings, count, "burst")
        await mailbox.until(before + count, timeout=600)
        elapsed = time.perf_counter() - started
        delivered = mailbox.count - before
    finally:
        stop.set()
        await sampler
        for proc in procs:
            await proc.stop()
        await p.stop()
        await sink.stop()
        await cleanup(settings)
    lat = percentiles(latencies)
    return {
        "pipeline_per_s": round(delivered / elapsed, 1),
        "burst": count, "delivered": delivered,
        "offered_rate": rate, "latency_samples": len(latencies), "of": total,
        "latency_p50_ms": round(lat["p50"] * 1000), "latency_p99_ms": round(lat["p99"] * 1000),
        "latency_max_ms": round(lat["max"] * 1000),
        "peak_rss_mib": {proc.name: round(proc.peak_rss / 2**20) for proc in procs},
    }


async def run(count: int = 2000, rate: float = 50.0, seconds: float = 20.0) -> dict[str, Any]:
    raw = await raw_chain(count)
    real = await pipeline(count, rate, seconds)
    return {"raw_chain_per_s": round(raw, 1), **real, "ratio": round(real["pipeline_per_s"] / raw, 3)}


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(asyncio.run(run(int(args[0]) if args else 2000)), indent=2))
