"""The whole pipeline against a raw aiokafka chain with the same hops (docs/design.md, Performance).

(a) three raw hops — encounters.reported → cases.opened → referrals.events →
notifications.events — each its own process, doing nothing but read, publish, commit;
(b) every casework service as its own ``faststream run`` process, from
``encounters.reported`` to a referral mail accepted by an SMTP sink. Both are fed the same
way: N encounters published as fast as possible into an idle, warmed-up system; the rate
is N over the time from the first publish to the last output. Then, on the real
pipeline, latency from publishing an encounter to its referral mail at the target's
offered rate and at a rate well below this machine's capacity, each service's peak RSS,
and a profile of the burst: CPU time of every process (services, Kafka, FerretDB) and
database commands per encounter.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.common import (
    ServiceProcess,
    cpu_seconds,
    fresh_settings,
    percentiles,
    producer,
    sampling,
    server_pids,
    wait_for,
)
from bench.history import seed
from bench.intake import encounter
from casework.namespace import admit, forget
from services.notify.sink import Sink
from shared.contracts.inbound import SpecialistRegistered
from shared.kafka import connection, ensure_topics, stopped
from shared.settings import NotifySettings, Settings, SmtpSettings, StatusSettings
from shared.topics import CATALOGUE, dlq

SERVICES = ["intake", "referral", "stabilization", "certification", "notify", "status"]
RAW_HOPS = [("encounters.reported", "cases.opened"), ("cases.opened", "referrals.events"),
            ("referrals.events", "notifications.events")]
HISTORY = int(os.environ.get("CASEWORK_BENCH_HISTORY", "100000"))  # earlier cases for the aged run; 0: none
IDLE_SECONDS = 15.0  # the background work measured before the burst (three of its 5 s periods), left out
EASY_RATE = 10.0  # an offered rate well below what this machine sustains: latency without a queue
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
                     "role": "victim_specialist", "on_duty": True, "max_active_cases": 10_000}}


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
    await ensure_topics(settings, ["encounters.reported", "cases.opened", "referrals.events", "notifications.events"],
                        principal="admin")
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
        await forget(settings)


async def _db_commands(procs: list[ServiceProcess]) -> dict[str, dict[str, float]]:
    """Per service, what its database commands have added up to so far: ``{"n": count,
    "<command> s": seconds waiting for that command}`` (from ``/metrics``)."""
    found: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for proc in procs:
            text = (await client.get(f"http://127.0.0.1:{proc.port}/metrics")).text
            mine = found[proc.name] = {"n": 0.0, "ops": 0.0}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "casework_db_commands_total":
                        mine["n"] += sample.value
                    elif sample.name == "casework_db_operations_total":
                        mine["ops"] += sample.value
                        mine[f"{sample.labels['command']} ops"] = mine.get(f"{sample.labels['command']} ops", 0.0) \
                            + sample.value
                    elif sample.name == "casework_db_command_seconds_sum":
                        mine[f"{sample.labels['command']} s"] = sample.value
    return found


async def _stages(procs: list[ServiceProcess]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per service and workflow stage, the seconds spent and the batches seen so far."""
    found: dict[str, dict[str, tuple[float, float]]] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for proc in procs:
            text = (await client.get(f"http://127.0.0.1:{proc.port}/metrics")).text
            mine: dict[str, list[float]] = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in ("casework_workflow_stage_seconds_sum", "casework_workflow_stage_seconds_count"):
                        slot = mine.setdefault(sample.labels["stage"], [0.0, 0.0])
                        slot[sample.name.endswith("_count")] += sample.value
            found[proc.name] = {stage: (v[0], v[1]) for stage, v in mine.items()}
    return found


def _stage_means(before: dict[str, dict[str, tuple[float, float]]],
                 after: dict[str, dict[str, tuple[float, float]]]) -> dict[str, dict[str, float]]:
    """Mean milliseconds per batch in each stage between two readings (stages seen only)."""
    means: dict[str, dict[str, float]] = {}
    for name, stages in after.items():
        for stage, (seconds, count) in stages.items():
            s0, c0 = before.get(name, {}).get(stage, (0.0, 0.0))
            if count > c0:
                means.setdefault(name, {})[stage] = round((seconds - s0) * 1000 / (count - c0), 1)
    return means


async def caught_up(settings: Settings, *, timeout: float = 300) -> None:
    """Until every consumer group of the run has committed the end of every partition it reads:
    the read models off the mail's path have done their part of the burst too."""
    admin = AIOKafkaAdminClient(**connection(settings, "admin"), client_id="casework-bench-lag")
    ends = AIOKafkaConsumer(**connection(settings, "admin"), client_id="casework-bench-ends")
    await admin.start()
    await ends.start()
    try:
        deadline = time.perf_counter() + timeout
        groups = [g[0] for g in await admin.list_consumer_groups() if str(g[0]).startswith(settings.topic_prefix)]
        settled = 0
        while time.perf_counter() < deadline:
            committed: dict[Any, int] = {}
            for group in groups:
                for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                    committed[(group, tp)] = meta.offset
            latest = await ends.end_offsets(list({tp for _, tp in committed}))
            # twice a second apart: what notify records and publishes after its commit is read too
            settled = settled + 1 if all(offset >= latest[tp] for (_, tp), offset in committed.items()) else 0
            if settled == 2:
                return
            await asyncio.sleep(1.0 if settled else 0.25)
        raise TimeoutError(f"the services had not read everything {timeout:.0f} s after the burst")
    finally:
        await stopped(ends)
        await admin.close()


def _summed(figures: Any) -> dict[str, float]:
    total: dict[str, float] = {}
    for figure in figures:
        for key, value in figure.items():
            total[key] = total.get(key, 0.0) + value
    return total


class Profile:
    """Where a burst's time goes: CPU seconds of every process and database commands per encounter."""

    def __init__(self, procs: list[ServiceProcess]) -> None:
        self.procs = procs
        self.idle_cores: float | None = None
        self.gross: dict[str, float] = {}
        self.pids = {p.name: p.proc.pid for p in procs if p.proc} | server_pids() | {"bench driver": os.getpid()}

    async def __aenter__(self) -> Profile:
        self.cpu, self.commands = cpu_seconds(self.pids), await _db_commands(self.procs)
        self.wall = time.perf_counter()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        cpu, commands = cpu_seconds(self.pids), await _db_commands(self.procs)
        self.cpu = {name: cpu[name] - self.cpu[name] for name in self.pids}
        self.commands = {name: {k: v - self.commands[name].get(k, 0.0) for k, v in commands[name].items()}
                         for name in commands}

    def less(self, idle: Profile) -> Profile:
        """This profile less what the same processes do when idle for as long (sweeps, heartbeats,
        watermarks: ``idle`` measured before the burst), so the burst's figures are its own."""
        scale = self.wall / idle.wall
        self.idle_cores = round(sum(idle.cpu.values()) / idle.wall, 2)
        self.gross = {"services_cpu_ms_per_encounter": sum(self.cpu[p.name] for p in self.procs) * 1000,
                      "document_operations_per_encounter": sum(c["ops"] for c in self.commands.values())}
        self.cpu = {n: max(0.0, s - idle.cpu.get(n, 0.0) * scale) for n, s in self.cpu.items()}
        self.commands = {name: {k: max(0.0, v - idle.commands.get(name, {}).get(k, 0.0) * scale)
                                for k, v in c.items()} for name, c in self.commands.items()}
        return self

    def per_encounter(self, count: int) -> dict[str, Any]:
        busiest = sorted(self.cpu.items(), key=lambda item: -item[1])
        return {
            "cores_busy": round(sum(self.cpu.values()) / self.wall, 2),  # with the burst's work alone
            "idle_cores_busy": self.idle_cores,  # what the system does idle, left out of these figures
            "with_the_idle_work": {k: round(v / count, 2) for k, v in self.gross.items()},
            "cpu_ms_per_encounter": {name: round(seconds * 1000 / count, 2) for name, seconds in busiest},
            "db_commands_per_encounter": {name: round(c["n"] / count, 1) for name, c in self.commands.items()},
            "document_operations_per_encounter": {
                **{name: {"all": round(c["ops"] / count, 2), **{k.removesuffix(" ops"): round(v / count, 2)
                                                                for k, v in sorted(c.items()) if k.endswith(" ops")}}
                   for name, c in self.commands.items()},
                "all services": round(sum(c["ops"] for c in self.commands.values()) / count, 1),
                "by command": {k.removesuffix(" ops"): round(v / count, 2) for k, v in sorted(
                    _summed(self.commands.values()).items()) if k.endswith(" ops")}},
            "services_cpu_ms_per_encounter": round(sum(
                self.cpu[p.name] for p in self.procs) * 1000 / count, 2),
            # time each service spent waiting for the database, per encounter, by command
            "db_wait_ms_per_encounter": {
                name: {k.removesuffix(" s"): round(v * 1000 / count, 1)
                       for k, v in sorted(c.items(), key=lambda kv: -kv[1])
                       if k.endswith(" s") and v * 1000 / count >= 0.5}
                for name, c in self.commands.items()},
        }


class Mailbox:
    """The SMTP sink the referral mails land in, noting when each case's mail arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0

    def on_message(self, _: str, content: bytes) -> None:
        if b"Referral assigned" in content.split(b"\r\n\r\n", 1)[0]:
            self.count += 1
            for case in set(CASE.findall(content)):
                self.arrived.setdefault(case.decode(), time.time())

    async def until(self, count: int, timeout: float = 300) -> None:
        deadline = time.perf_counter() + timeout
        while self.count < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{self.count} referral mails after {timeout:.0f} s, expected {count}")
            await asyncio.sleep(0.05)


async def latency(p: AIOKafkaProducer, settings: Settings, mailbox: Mailbox, rate: float, seconds: float,
                  tag: str, procs: list[ServiceProcess]) -> dict[str, Any]:
    """Encounters offered at a steady ``rate`` for ``seconds``: publish → referral mail accepted."""
    stages = await _stages(procs)
    sent: dict[str, float] = {}
    total, before = int(rate * seconds), mailbox.count
    start = time.perf_counter()
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        eid = f"ENC-{tag}-{i}"
        sent[eid] = time.time()
        await p.send(settings.topic("encounters.reported"), json.dumps(encounter(eid)).encode(), key=eid.encode())
    await mailbox.until(before + total, timeout=600)
    stage_means = _stage_means(stages, await _stages(procs))
    opened = {json.loads(r.value)["data"]["encounter_id"]: r
              for r in await wait_for(settings, "cases.opened", before + total)}
    case_of = {e: json.loads(r.value)["data"]["case_id"] for e, r in opened.items()}
    assigned = {json.loads(r.value)["subject"]: r.timestamp / 1000 for r in await wait_for(
        settings, "referrals.events", before + total, match=lambda r: b"referral.assigned" in r.value)}
    mine = [e for e in sent if e in case_of and case_of[e] in mailbox.arrived]
    lat = percentiles([mailbox.arrived[case_of[e]] - sent[e] for e in mine])
    # where the time goes, hop by hop (the brokers' record timestamps: this machine's one clock)
    hops = {"intake": [opened[e].timestamp / 1000 - sent[e] for e in mine],
            "referral": [assigned[case_of[e]] - opened[e].timestamp / 1000 for e in mine if case_of[e] in assigned],
            "notify": [mailbox.arrived[case_of[e]] - assigned[case_of[e]] for e in mine if case_of[e] in assigned]}
    return {"offered_per_s": rate, "samples": len(mine), "of": total,
            "p50_ms": round(lat["p50"] * 1000), "p99_ms": round(lat["p99"] * 1000), "max_ms": round(lat["max"] * 1000),
            "by_hop_p50_p99_ms": {hop: [round(q * 1000) for q in (h["p50"], h["p99"])]
                                  for hop, each in hops.items() if each for h in [percentiles(each)]},
            "workflow_stage_ms_per_batch": stage_means}


async def pipeline(count: int, rate: float, seconds: float, history: int = 0,
                   servers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The figures of one system; with ``history``, after each service's collections were
    brought to that many earlier (finished) cases and the services restarted on them;
    ``servers``: other servers than the settings' (bench/security.py: a PLAINTEXT broker)."""
    mailbox = Mailbox()
    sink = Sink(Path(tempfile.mkdtemp(prefix="casework-bench-outbox-")), on_message=mailbox.on_message)
    smtp_port = free_port()
    await sink.start("127.0.0.1", smtp_port)
    settings = fresh_settings(notify=NotifySettings(smtp=SmtpSettings(port=smtp_port)),
                              status=StatusSettings(dashboard_port=free_port()), **(servers or {}))
    await admit(settings)  # each service signs in as itself: the catalogue's ACLs on these topics
    topics = [t for t in CATALOGUE] + [dlq(t) for t in CATALOGUE]
    await ensure_topics(settings, topics, principal="admin")
    p = await producer(settings)
    roster = [specialist(i) for i in range(20)]
    for event in roster:  # a roster the services would dead-letter would measure nothing
        SpecialistRegistered.model_validate_json(json.dumps(event["data"]))
    for event in roster:
        await p.send_and_wait(settings.topic("roster.specialists"), json.dumps(event).encode(),
                              key=event["subject"].encode())
    procs = [ServiceProcess(name, settings, settings.status.dashboard_port if name == "status" else free_port())
             for name in SERVICES]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sampling(procs, stop))
    try:
        launched = time.perf_counter()
        for proc in procs:
            await proc.start()
        for proc in procs:
            await proc.ready()
        services_ready_s = time.perf_counter() - launched
        await publish_now(p, settings, 200, "warm")
        await mailbox.until(200)
        seeded: dict[str, int] = {}
        if history:
            seeded = await seed(settings, SERVICES, history)
            for proc in procs:  # a deployment that has lived with them: started on them
                await proc.stop()
                await proc.start()
            for proc in procs:
                await proc.ready(timeout=300)
            await publish_now(p, settings, 50, "rewarm")
            await mailbox.until(250, timeout=300)

        easy = await latency(p, settings, mailbox, EASY_RATE, seconds, "easy", procs)
        target = await latency(p, settings, mailbox, rate, seconds, "target", procs)

        # throughput: a burst into the idle system (what it does idle is measured first)
        await caught_up(settings)
        async with Profile(procs) as idle:
            await asyncio.sleep(IDLE_SECONDS)
        before = mailbox.count
        async with Profile(procs) as profile:
            started = time.perf_counter()
            await publish_now(p, settings, count, "burst")
            await mailbox.until(before + count, timeout=600)
            elapsed = time.perf_counter() - started
            delivered = mailbox.count - before
            # The read models off the mail's path may still be working on the burst: its cost
            # counts all of their work, until every service has committed all it read.
            await caught_up(settings)
    finally:
        stop.set()
        await sampler
        for proc in procs:
            await proc.stop()
        await p.stop()
        await sink.stop()
        await forget(settings)
    return {
        "pipeline_per_s": round(delivered / elapsed, 1),
        "burst": count, "delivered": delivered,
        "offered_rate": rate, "latency_p50_ms": target["p50_ms"], "latency_p99_ms": target["p99_ms"],
        "latency_at_offered_rate": target, f"latency_at_{EASY_RATE:g}_per_s": easy,
        "services_ready_s": round(services_ready_s, 2),
        "peak_rss_mib": {proc.name: round(proc.peak_rss / 2**20) for proc in procs},
        "profile_of_the_burst": profile.less(idle).per_encounter(count),
        **({"history_documents": seeded} if history else {}),
    }


async def run(count: int = 2000, rate: float = 50.0, seconds: float = 20.0,
              history: int = HISTORY) -> dict[str, Any]:
    raw = await raw_chain(count)
    real = await pipeline(count, rate, seconds)
    figures = {"raw_chain_per_s": round(raw, 1), **real, "ratio": round(real["pipeline_per_s"] / raw, 3)}
    if history:
        aged = await pipeline(count, rate, seconds, history=history)
        figures["after_history"] = {
            "earlier_cases": history, "pipeline_per_s": aged["pipeline_per_s"],
            "latency_p99_ms": aged["latency_p99_ms"],
            f"latency_p99_ms_at_{EASY_RATE:g}_per_s": aged[f"latency_at_{EASY_RATE:g}_per_s"]["p99_ms"],
            "burst_ratio_to_fresh": round(aged["pipeline_per_s"] / real["pipeline_per_s"], 2),
            "documents_added": aged["history_documents"]}
    return figures


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(asyncio.run(run(int(args[0]) if args else 2000)), indent=2))
