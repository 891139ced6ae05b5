"""What securing the broker costs: TLS and SASL (SCRAM-SHA-512) against PLAINTEXT.

A second Kafka and FerretDB are started beside the usual ones, on ports and in a state
directory of their own, with a PLAINTEXT listener and no authorizer (infra/up.sh with
``CASEWORK_BENCH_KAFKA_LISTENER=PLAINTEXT``: this benchmark's comparison broker alone; every
other use of the servers is SASL_SSL). The same measures then run on both:

* a client's start-up: a producer's ``start()`` (connect, TLS handshake, SCRAM sign-in,
  metadata), the median and p99 of many;
* the pipeline benchmark (bench/pipeline.py) with a smaller burst: the six services' start-up
  (launch to every ``/readyz``), the burst's rate and the latency at a low rate.

The figures are given as the secured broker's over the PLAINTEXT one's, measured in the same
run on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.pipeline import free_port, pipeline
from shared.kafka import connection
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CLIENT_STARTS = 40


class PlaintextServers:
    """A Kafka (PLAINTEXT) and a FerretDB of this benchmark's own; stopped and deleted after."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="casework-bench-plaintext-"))
        self.kafka, self.controller, self.mongo = free_port(), free_port(), free_port()
        self.env = os.environ | {"CASEWORK_STATE_DIR": str(self.state), "CASEWORK_KAFKA_PORT": str(self.kafka),
                                 "CASEWORK_KAFKA_CONTROLLER_PORT": str(self.controller),
                                 "CASEWORK_MONGO_PORT": str(self.mongo), "CASEWORK_BENCH_KAFKA_LISTENER": "PLAINTEXT"}

    def settings(self) -> dict[str, Any]:
        return {"kafka_bootstrap": f"127.0.0.1:{self.kafka}", "kafka_security_protocol": "PLAINTEXT",
                "mongo_uri": f"mongodb://127.0.0.1:{self.mongo}/?directConnection=true"}

    async def __aenter__(self) -> PlaintextServers:
        await asyncio.to_thread(subprocess.run, ["bash", str(ROOT / "infra" / "up.sh")], env=self.env, check=True,
                                stdout=subprocess.DEVNULL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(subprocess.run, ["bash", str(ROOT / "infra" / "down.sh")], env=self.env,
                                check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(self.state, ignore_errors=True)


async def client_starts(settings: Settings) -> dict[str, float]:
    took = []
    for _ in range(CLIENT_STARTS):
        producer = AIOKafkaProducer(**connection(settings, "admin"))
        started = time.perf_counter()
        await producer.start()
        took.append((time.perf_counter() - started) * 1000)
        await producer.stop()
    took.sort()
    return {"p50_ms": round(statistics.median(took), 1), "p99_ms": round(took[int(len(took) * 0.99) - 1], 1)}


async def run(count: int = 1000, seconds: float = 10.0) -> dict[str, Any]:
    secured = Settings()
    async with PlaintextServers() as plain:
        figures = {"sasl_ssl": {"client_start": await client_starts(secured)},
                   "plaintext": {"client_start": await client_starts(Settings(**plain.settings()))}}
        for name, servers in (("sasl_ssl", None), ("plaintext", plain.settings())):
            run_ = await pipeline(count, 50.0, seconds, servers=servers)
            figures[name] |= {k: run_[k] for k in ("services_ready_s", "pipeline_per_s")}
            figures[name]["latency_at_10_per_s_p50_ms"] = run_["latency_at_10_per_s"]["p50_ms"]
    s, p = figures["sasl_ssl"], figures["plaintext"]
    figures["secured_over_plaintext"] = {
        "client_start_p50": round(s["client_start"]["p50_ms"] / p["client_start"]["p50_ms"], 2),
        "services_ready": round(s["services_ready_s"] / p["services_ready_s"], 2),
        "pipeline_rate": round(s["pipeline_per_s"] / p["pipeline_per_s"], 2),
        "latency_p50_at_10_per_s": round(s["latency_at_10_per_s_p50_ms"] / max(p["latency_at_10_per_s_p50_ms"], 1), 2),
    }
    return figures
