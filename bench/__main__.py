"""``make bench``: every benchmark, then one markdown report under ``bench/results/``.

``python -m bench`` runs them all; ``python -m bench pipeline status`` only those named
(the report keeps the other benchmarks' last figures, each with when it was measured).
Each benchmark uses a fresh topic prefix and database prefix, so it never touches the
data of ``make run`` and leaves nothing behind. Figures depend on the machine: the
report starts with it, and the pipeline's figure is also given as a ratio to a raw
aiokafka chain with the same hops measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import actions, database, intake, notify, pipeline, referral, security, status
from bench.common import machine
from shared.settings import Settings

RESULTS = Path(__file__).parent / "results"

# The targets of docs/design.md, Performance, checked against the pipeline figures
PIPELINE_TARGET_PER_S = 150  # beyond: 300, then 1,000
LATENCY_TARGET_P99_MS = 250  # at 50/s offered; beyond: 100
EASY_LATENCY_TARGET_P99_MS = 150  # at 10/s
OPERATIONS_TARGET = 12  # document operations per encounter, all services
SERVICES_CPU_TARGET_MS = 5.0  # the six services' CPU per encounter


def _settings() -> Settings:
    return Settings(log_level="WARNING")


BENCHMARKS: dict[str, tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = {
    "pipeline": ("Whole pipeline vs a raw aiokafka chain (encounter → referral mail)", lambda: pipeline.run()),
    "database": ("The database alone: one document operation of the kit, to read the pipeline's profile by",
                 lambda: database.run(_settings())),
    "intake": ("Intake alone vs a raw consume-produce loop", lambda: intake.run()),
    "referral": ("Referral: assignment latency and the timer sweep with 100,000 open referrals",
                 lambda: referral.run(_settings())),
    "notify": ("Notify: mails per second and latency at 80 % of that rate", lambda: notify.run(_settings())),
    "status": ("Status: snapshots per second; dashboard API p99 with 100,000 cases", lambda: status.run(_settings())),
    "actions": ("Dashboard actions: requests/s and p99 at concurrency 8 (each published and audited)",
                lambda: actions.run(_settings())),
    "security": ("The broker's TLS and SASL against PLAINTEXT: client and service start-up, the pipeline",
                 lambda: security.run()),
}


def _rows(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += _rows(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:,}"
    return [(prefix, str(value).replace("|", "\\|"))]


def _targets(figures: dict[str, Any]) -> list[str]:
    if "pipeline" not in figures or "error" in figures["pipeline"]:
        return []
    p = figures["pipeline"]
    profile = p["profile_of_the_burst"]
    easy = next((v for k, v in p.items() if k.startswith("latency_at_") and k != "latency_at_offered_rate"), None)

    def row(target: str, measured: str, met: bool) -> str:
        return f"| {target} | {measured} | {'yes' if met else 'no'} |"

    rate, p99 = p["pipeline_per_s"], p["latency_p99_ms"]
    operations = profile["document_operations_per_encounter"]["all services"]
    cpu = profile["services_cpu_ms_per_encounter"]
    return [
        "## Targets (docs/design.md, Performance)", "",
        "| target | measured | met |", "|---|---|---|",
        row(f"pipeline burst ≥ {PIPELINE_TARGET_PER_S} encounters/s",
            f"{rate:,.1f}/s ({p['ratio']:.3f} of the raw chain's {p['raw_chain_per_s']:,.1f}/s in the same run)",
            rate >= PIPELINE_TARGET_PER_S),
        row(f"p99 encounter → mail ≤ {LATENCY_TARGET_P99_MS} ms at {p['offered_rate']:g}/s",
            f"{p99:,} ms (p50 {p['latency_p50_ms']:,} ms)", p99 <= LATENCY_TARGET_P99_MS),
        *([row(f"p99 encounter → mail ≤ {EASY_LATENCY_TARGET_P99_MS} ms at {easy['offered_per_s']:g}/s",
               f"{easy['p99_ms']:,} ms (p50 {easy['p50_ms']:,} ms)", easy["p99_ms"] <= EASY_LATENCY_TARGET_P99_MS)]
          if easy else []),
        row(f"document operations per encounter ≤ {OPERATIONS_TARGET}", f"{operations:g}",
            operations <= OPERATIONS_TARGET),
        row(f"the services' CPU per encounter ≤ {SERVICES_CPU_TARGET_MS:g} ms", f"{cpu:g} ms",
            cpu <= SERVICES_CPU_TARGET_MS),
        *([row("after earlier cases, the burst within 20 % of a fresh run",
               f"{h['burst_ratio_to_fresh']:g} after {h['earlier_cases']:,} cases", h["burst_ratio_to_fresh"] >= 0.8)]
          if (h := p.get("after_history")) else []),
        "",
    ]


def report(runs: dict[str, dict[str, Any]]) -> str:
    newest = max(datetime.fromisoformat(r["at"]) for r in runs.values())
    lines = [f"# casework benchmarks, {newest:%Y-%m-%d %H:%M} UTC", "", "## Machine", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine().items()]
    lines += ["", *_targets({name: run["figures"] for name, run in runs.items()})]
    for name in [n for n in BENCHMARKS if n in runs]:
        run = runs[name]
        lines += [f"## {name}: {BENCHMARKS[name][0]}", "",
                  f"_measured {datetime.fromisoformat(run['at']):%Y-%m-%d %H:%M} UTC in {run['seconds']:.0f} s_", "",
                  "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in _rows(run["figures"])]
        lines.append("")
    return "\n".join(lines)


def _previous() -> dict[str, dict[str, Any]]:
    """The last report's runs, so re-running one benchmark keeps the others' figures."""
    try:
        runs = json.loads((RESULTS / "latest.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in runs.items() if k in BENCHMARKS and {"figures", "seconds", "at"} <= set(v)}


async def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    runs = _previous() if names else {}
    failed = False
    for name in names or list(BENCHMARKS):
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        at, t0 = datetime.now(UTC), time.perf_counter()
        try:
            figures = await BENCHMARKS[name][1]()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            figures = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
        runs[name] = {"figures": figures, "seconds": time.perf_counter() - t0, "at": at.isoformat()}
        print(json.dumps(figures, indent=2, default=str), file=sys.stderr, flush=True)
    RESULTS.mkdir(exist_ok=True)
    text = report(runs)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%dT%H%M}.md"
    path.write_text(text + "\n")
    (RESULTS / "latest.md").write_text(text + "\n")
    (RESULTS / "latest.json").write_text(json.dumps(runs, indent=2, default=str) + "\n")
    print(text)
    print(f"\nbench: written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
