"""Chaos under ``make run``: encounters keep coming while every service, Kafka and FerretDB are SIGKILLed.

``python -m casework.supervisor`` runs as ``make run`` runs it, with a state directory of its
own, so it starts a Kafka and a FerretDB of its own on free ports (the shared servers are
never touched) and restarts whatever dies: nothing in the test starts a process again. The
demo roster is loaded with room for every case. Encounters (each with the canary identity)
arrive at a steady rate; at seeded moments within the traffic each service is killed
``CASEWORK_CHAOS_KILLS`` times, Kafka once and FerretDB once. Afterwards every encounter has
exactly one case, every case exactly one assignment, one referral mail in the outbox and a
complete status snapshot, and no log under the state directory names the person. A mail
handed to the SMTP server just before notify was killed, and not yet recorded, is sent again
(the documented crash window, the reason for its Message-ID): such repeats are counted and
reported, and any other repeat fails.

Size by environment: ``CASEWORK_CHAOS_ENCOUNTERS`` (300), ``CASEWORK_CHAOS_RATE`` (5 per
second: the kills fall within a minute of traffic), ``CASEWORK_CHAOS_KILLS`` (1 of each
service), ``CASEWORK_CHAOS_SEED``. ``make chaos`` runs 5,000 at 25/s with two kills of each
service. The summary (counts, time to recover after each kill) is printed and written to
``tests/artifacts/chaos-summary.json``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chaos import (
    SERVERS,
    SERVICES,
    Chaos,
    RunUnderTest,
    Size,
    Traffic,
    Verdict,
    Watch,
    canaries_in,
    demo_roster,
    mails,
    plan,
    recoveries,
    recovery_table,
    repeats_unexplained,
    verdict,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunUnderTest]:
    started = RunUnderTest(tmp_path_factory.mktemp("chaos"))
    try:
        started.start()
        yield started
    finally:
        started.stop()


def settled(found: Verdict, traffic: Traffic) -> bool:
    lost = found.lost(traffic.sent)
    return len(found.opened) == traffic.size.encounters and not any(lost.values())


@pytest.mark.timeout(900 + 3 * Size.from_env().duration)
async def test_every_encounter_comes_through_kills_of_every_service_kafka_and_ferretdb(run) -> None:
    size = Size.from_env()
    kills = plan(size)
    assert sorted({k.victim for k in kills}) == sorted(SERVICES + SERVERS)
    roster = demo_roster(capacity=size.encounters)
    emails = {p["specialist_id"]: p["email"] for p in roster["specialists"]}
    run.load_roster(roster)
    traffic, watch = Traffic(run.kafka("agency"), size), Watch(run.kafka("operator"))
    chaos = Chaos(run, traffic, kills)
    began = time.monotonic()
    follower = asyncio.create_task(watch.follow())
    await asyncio.sleep(1)
    reporting = asyncio.create_task(traffic.report())
    await asyncio.sleep(0)  # the traffic's clock starts before the plan's first moment
    await chaos.execute()
    await reporting

    deadline = time.monotonic() + max(300.0, size.duration)
    while not settled(verdict(watch, traffic, run, emails), traffic):
        assert not follower.done(), follower.exception()
        assert run.running(), run.text()[-6000:]
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(5)
    await asyncio.sleep(10)  # a late repeat (a redelivery, a re-sent mail) would show up now
    follower.cancel()
    found = verdict(watch, traffic, run, emails)
    wall = time.monotonic() - began
    lost = found.lost(traffic.sent)
    unexplained = repeats_unexplained(found.repeats, mails(run.outbox), chaos.done, watch)
    canaries = canaries_in(run)
    summary: dict[str, Any] = {
        "size": {"encounters": size.encounters, "rate": size.rate, "kills_per_service": size.kills,
                 "seed": size.seed},
        "encounters": found.encounters, "encounter resends": traffic.resends,
        "traffic s": round(traffic.took, 1),
        "cases": len(found.cases), "cases.opened records": found.opened_records,
        "assigned": len(found.assignments), "referrals.events assigned records": found.assigned_records,
        "referral mails": sum(len(m) for m in found.referral_mails.values()),
        "mails in the outbox": sum(found.message_ids.values()),
        "repeats set aside": len(found.repeats), "repeats outside the crash window": unexplained,
        "dead letters": found.dead_letters, "misaddressed referral mails": len(found.misaddressed),
        "logs naming a canary": canaries,
        "lost": {what: len(cases) for what, cases in lost.items()},
        "recovery": recoveries(chaos, traffic, watch, run),
        "wall time s": round(wall, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "chaos-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(recovery_table(summary["recovery"]))

    assert found.encounters == size.encounters
    assert {what: cases[:5] for what, cases in lost.items() if cases} == {}
    assert {e: c for e, c in found.opened.items() if len(c) != 1} == {}  # one case per encounter
    assert {c: a for c, a in found.assignments.items() if len(a) != 1} == {}  # assigned once
    assert {c: [m.path.name for m in ms] for c, ms in found.referral_mails.items() if len(ms) != 1} == {}
    assert [m for m, n in found.message_ids.items() if n > 1] == []  # the outbox holds each mail once
    assert unexplained == []
    assert found.misaddressed == {}  # each to the specialist the case was assigned to
    assert canaries == {}
    assert found.dead_letters == {}  # an outage is waited out, never dead-lettered
    assert len(chaos.done) == len(kills) and all(d.ready_after is not None for d in chaos.done)
