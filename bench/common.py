"""What every benchmark shares: a fresh namespace, the machine, fast producing, percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import uuid
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from casework.readiness import wait_ready
from shared.kafka import connection
from shared.settings import Settings
from shared.topics import MAX_MESSAGE_BYTES


def fresh_settings(**overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:6]
    return Settings(topic_prefix=f"bench{tag}.", db_prefix=f"bench{tag}_", log_level="WARNING", **overrides)


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "kafka": "Apache Kafka 4.4.0 (KRaft, one node, local)", "database": "FerretDB 1.24.2 (SQLite backend, local)",
        "faststream": version("faststream"), "aiokafka": version("aiokafka"), "pymongo": version("pymongo"),
    }


def percentiles(values: Iterable[float]) -> dict[str, float]:
    data = sorted(values)
    if not data:
        return {"p50": float("nan"), "p99": float("nan")}
    q = statistics.quantiles(data, n=100, method="inclusive") if len(data) > 1 else [data[0]] * 99
    return {"p50": q[49], "p90": q[89], "p99": q[98], "max": data[-1]}


async def producer(settings: Settings) -> AIOKafkaProducer:
    p = AIOKafkaProducer(**connection(settings, "admin"), acks="all", enable_idempotence=True,
                         linger_ms=5, max_request_size=MAX_MESSAGE_BYTES)
    await p.start()
    return p


async def produce_all(settings: Settings, topic: str, items: list[tuple[str, dict[str, Any]]]) -> None:
    p = await producer(settings)
    try:
        futures = [await p.send(settings.topic(topic), json.dumps(v).encode(), key=k.encode()) for k, v in items]
        await asyncio.gather(*futures)
    finally:
        await p.stop()


async def wait_for(settings: Settings, topic: str, count: int, *, timeout: float = 300,
                   match: Any = None) -> list[Any]:
    """Records of a topic from the beginning until ``count`` (matching) have arrived."""
    consumer = AIOKafkaConsumer(settings.topic(topic), **connection(settings, "admin"),
                                auto_offset_reset="earliest", group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while len(records) < count and loop.time() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                records.extend(r for r in recs if match is None or match(r))
        return records
    finally:
        await consumer.stop()


RUN_DIR = Path(__file__).resolve().parents[1] / ".local" / "run"


def server_pids() -> dict[str, int]:
    """Kafka's and FerretDB's process ids, as ``infra/up.sh`` recorded them."""
    pids = {}
    for server in ("kafka", "ferretdb"):
        try:
            pids[server] = int((RUN_DIR / f"{server}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return pids


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) each process has used so far."""
    seconds = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
            seconds[name] = times.user + times.system
        except psutil.Error:
            seconds[name] = float("nan")
    return seconds


class ServiceProcess:
    """A service under ``faststream run`` with the benchmark's settings; its peak RSS sampled."""

    def __init__(self, name: str, settings: Settings, port: int) -> None:
        self.name, self.settings, self.port = name, settings, port
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_rss = 0

    async def start(self) -> None:
        import sys

        env = os.environ | self.settings.as_environment() | {"CASEWORK_OPS_PORT": str(self.port),
                                                             "PYTHONUNBUFFERED": "1"}
        # BENCH_PROFILE=<service>: that service runs under cProfile, its profile in .local/<service>.prof
        profile = ["-m", "cProfile", "-o", f".local/{self.name}.prof"] if os.environ.get("BENCH_PROFILE") == self.name \
            else []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *profile, "-m", "faststream", "run", "--factory", f"services.{self.name}.app:create_app",
            env=env, stdout=self._log(), stderr=asyncio.subprocess.STDOUT)

    def _log(self) -> Any:
        """BENCH_LOG_DIR=<dir>: each service's output appended to <dir>/<service>.log, else dropped."""
        folder = os.environ.get("BENCH_LOG_DIR")
        if not folder:
            return asyncio.subprocess.DEVNULL
        Path(folder).mkdir(parents=True, exist_ok=True)
        return (Path(folder) / f"{self.name}.log").open("ab")

    async def ready(self, timeout: float = 90) -> None:
        if not await wait_ready(self.port, within=timeout):
            raise RuntimeError(f"{self.name} not ready after {timeout}s")

    def sample(self) -> None:
        if self.proc and self.proc.returncode is None:
            try:
                self.peak_rss = max(self.peak_rss, psutil.Process(self.proc.pid).memory_info().rss)
            except psutil.Error:
                pass

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()


async def sampling(processes: list[ServiceProcess], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for p in processes:
            p.sample()
        await asyncio.sleep(0.1)
