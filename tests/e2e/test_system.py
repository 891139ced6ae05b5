"""The product as a user meets it: every service its own process, on the real broker and database.

One system (six ``faststream run`` processes, the mail sink, a roster loaded with the
``casework`` command) serves every scenario of this module, in order: a whole adult case,
an unanswered referral, an unreadable encounter, a minor's HHS notice (the clocks moved
13 hours ahead), and a 500-encounter simulation during which each service is killed with
SIGKILL once and restarted.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from pymongo import AsyncMongoClient

from casework.simulation import Shares, Simulation
from tests.support import events
from tests.support.kafka import Bus
from tests.support.system import SERVICES, System, e2e_settings, running

pytestmark = pytest.mark.asyncio(loop_scope="module")
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    workdir = tmp_path_factory.mktemp("system")
    async with running(e2e_settings(workdir), workdir) as started:
        yield started


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bus(system: System) -> AsyncIterator[Bus]:
    bus = Bus(system.settings)
    await bus.start()
    yield bus
    await bus.stop()


def of_case(case_id: str, type_: str = "") -> Any:
    return lambda e: e["data"].get("case_id") == case_id and e["type"].endswith(type_)


async def open_case(bus: Bus, **overrides: Any) -> tuple[str, dict[str, Any]]:
    encounter = events.encounter(f"ENC-e2e-{uuid.uuid4().hex[:8]}", **overrides)
    await bus.publish("encounters.reported", encounter)
    [opened] = await bus.events("cases.opened", count=1, timeout=60,
                                where=lambda e: e["data"]["encounter_id"] == encounter["data"]["encounter_id"])
    return opened["data"]["case_id"], opened


async def latest_status(bus: Bus, case_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    snapshots = await bus.events("cases.status", count=1, timeout=timeout,
                                 where=lambda e: e["subject"] == case_id and until(e["data"]))
    return snapshots[-1]["data"]


async def record(bus: Bus, topic: str, type_: str, case_id: str, data: dict[str, Any]) -> None:
    await bus.publish(topic, events.cloudevent(type_, {"case_id": case_id} | data, subject=case_id,
                                               source="app/specialists"))


async def milestone(bus: Bus, case_id: str, specialist: str, **milestone: Any) -> None:
    await record(bus, "stabilization.recorded", "casework.stabilization.recorded.v1", case_id,
                 {"recorded_by": {"id": specialist, "role": "victim_specialist"}, "milestone": milestone})


async def eventually_mail(system: System, address: str, subject: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not system.mails_to(address, subject):
        assert asyncio.get_running_loop().time() < deadline, f"no {subject!r} mail to {address}"
        await asyncio.sleep(0.3)


async def test_an_adult_case_from_encounter_to_interview_cleared_and_continued_presence(system, bus) -> None:
    case_id, _ = await open_case(bus, urgent_needs=["shelter"], person={"age_estimate": 30, "date_of_birth": None})
    [assigned] = await bus.events("referrals.events", count=1, timeout=60, where=of_case(case_id, "assigned.v1"))
    specialist = assigned["data"]["specialist_id"]
    await eventually_mail(system, f"{specialist}@example.org", f"Referral assigned: {case_id}")
    await record(bus, "referrals.responded", "casework.referral.responded.v1", case_id,
                 {"referral_id": assigned["data"]["referral_id"], "specialist_id": specialist, "response": "accepted"})
    await milestone(bus, case_id, specialist, kind="needs_assessed", urgent_needs=["shelter"])
    await milestone(bus, case_id, specialist, kind="urgent_need_met", need="shelter")
    await milestone(bus, case_id, specialist, kind="interpreter_arranged", language="es", mode="telephonic",
                    attestations={"no_relationship_to_person": True, "no_ties_to_trafficker": True,
                                  "not_victim_advocate": True, "gender_preference_respected": True})
    await milestone(bus, case_id, specialist, kind="rights_explained")
    await record(bus, "interviews.requested", "casework.interview.requested.v1", case_id, {
        "interview_id": "int-e2e-1", "proposed_at": "2026-12-03T15:00:00Z", "location_type": "neutral",
        "requested_by": {"officer_id": "officer-17", "agency_id": "TX-DPS", "email": "reyes@dps.example.gov"}})
    await bus.events("stabilization.events", count=1, timeout=60, where=of_case(case_id, "interview.cleared.v1"))
    await record(bus, "certifications.requested", "casework.certification.requested.v1", case_id, {
        "certification_id": "cp-e2e-1", "kind": "continued_presence",
        "requested_by": {"officer_id": "agent-3", "agency_id": "FBI-MIA", "agency_level": "federal"}})
    await bus.events("certifications.events", count=1, timeout=60, where=of_case(case_id, "status_changed.v1"))
    await record(bus, "certifications.recorded", "casework.certification.recorded.v1", case_id,
                 {"certification_id": "cp-e2e-1", "status": "granted", "at": "2026-11-30T12:00:00Z"})

    status = await latest_status(bus, case_id, lambda s: s["stage"] == "interview_cleared"
                                 and s["continued_presence"]["status"] == "granted")
    assert status["referral"]["status"] == "accepted" and status["referral"]["specialist_id"] == specialist
    assert status["stabilization"]["needs_assessed"] and status["stabilization"]["urgent_needs_open"] == []
    assert status["interpreter"] == "arranged" and status["stabilization"]["interview"]["status"] == "cleared"
    assert status["continued_presence"]["valid_until"].startswith("2028-11-29")  # 730 days after the grant
    await eventually_mail(system, "reyes@dps.example.gov", f"Interview cleared: {case_id}")
    await eventually_mail(system, f"{specialist}@example.org", f"Interview cleared: {case_id}")


async def test_an_unanswered_referral_is_escalated_to_the_regions_supervisors(system, bus) -> None:
    case_id, _ = await open_case(bus)
    [escalated] = await bus.events("referrals.events", count=1, timeout=60, where=of_case(case_id, "escalated.v1"))
    assigned = await bus.events("referrals.events", count=2, timeout=60, where=of_case(case_id, "assigned.v1"))
    assert assigned[1]["data"]["specialist_id"] != escalated["data"]["specialist_id"]  # reassigned at once
    await eventually_mail(system, "sup-tx@example.org", f"Referral escalated: {case_id}")
    await eventually_mail(system, "sup-all@example.org", f"Referral escalated: {case_id}")
    status = await latest_status(bus, case_id, lambda s: s["referral"]["escalations"] >= 1)
    assert status["referral"]["status"] in {"assigned", "escalated"}


async def test_an_unreadable_encounter_alerts_the_supervisors(system, bus) -> None:
    broken = events.encounter("ENC-e2e-unreadable")
    broken["data"]["person"]["languages"] = "spanish"  # not a list: invalid
    await bus.publish("encounters.reported", broken)
    dead = await bus.read("encounters.reported.dlq", timeout=60,
                          until=lambda rs: any(r.key == b"ENC-e2e-unreadable" for r in rs))
    assert any(r.key == b"ENC-e2e-unreadable" for r in dead)
    await eventually_mail(system, "sup-tx@example.org", "Encounter could not be processed")
    mail = system.mails_to("sup-tx@example.org", "Encounter could not be processed")[0]
    assert "ENC-e2e-unreadable" in str(mail["Subject"]) + mail.get_body(("plain",)).get_content()
    assert "TX-DPS" in mail.get_body(("plain",)).get_content()
    assert not [c for c in events.CANARIES if c in mail.as_string()]


async def test_a_minors_hhs_notice_is_due_reminded_and_done(system, bus) -> None:
    # The notice counts from the encounter (M1): one that happened just now, so it is not overdue yet.
    case_id, opened = await open_case(bus, person={"age_estimate": 15, "date_of_birth": None},
                                      occurred_at=datetime.now(UTC).isoformat())
    assert opened["data"]["minor"] and opened["data"]["priority"] == "urgent"
    await latest_status(bus, case_id, lambda s: s["minor"] and s["stabilization"]["hhs_notification"] == "due")
    [assigned] = await bus.events("referrals.events", count=1, timeout=60, where=of_case(case_id, "assigned.v1"))
    # 13 hours later on stabilization's clock: the 12-hour reminder (M1) falls due.
    await system.restart("stabilization", kill=False, CASEWORK_CLOCK_OFFSET_SECONDS=str(13 * 3600))
    try:
        await bus.events("stabilization.events", count=1, timeout=60, where=of_case(case_id, "hhs_notification.due.v1"))
        await eventually_mail(system, f"{assigned['data']['specialist_id']}@example.org",
                              f"HHS notification due: {case_id}")
        await milestone(bus, case_id, assigned["data"]["specialist_id"], kind="hhs_notified")
        await latest_status(bus, case_id, lambda s: s["stabilization"]["hhs_notification"] == "done")
    finally:
        await system.restart("stabilization", kill=False, CASEWORK_CLOCK_OFFSET_SECONDS="0")


async def test_simulated_specialists_meet_urgent_needs_through_providers_from_the_directory(
        system, bus, tmp_path: Path) -> None:
    system.load_registrations("providers", tmp_path / "providers.yaml", yaml.safe_load(
        (ROOT / "examples" / "providers.yaml").read_text()))
    simulation = Simulation(system.settings, 30, rate=10, seed=11, respond_within=0.5,
                            shares=Shares(accept=1.0, decline=0.0, certifications=0.0, interviews=0.0, services=1.0,
                                          provider_declines=0.5))  # both outcomes, all but surely
    summary = await simulation.execute(settle=3.0)
    outcomes = Counter(summary.services.values())
    assert outcomes["completed"] > 0 and outcomes["declined"] > 0, outcomes
    assert "refused" not in outcomes and "response_refused" not in outcomes, outcomes
    texas = [c for c in summary.accepted if simulation.encounters[simulation.case_of[c]]["region"] == "US-TX"
             and simulation.encounters[simulation.case_of[c]]["urgent_needs"]]
    snapshots = {e["subject"]: e["data"] for e in await bus.events("cases.status", where=lambda e: e["subject"] in
                                                                   summary.accepted)}
    providers = {p["provider_id"] for p in yaml.safe_load((ROOT / "examples" / "providers.yaml").read_text())[
        "providers"]}
    assert not [p for p in providers if p in json.dumps(snapshots)]  # no provider named on the status stream
    served = [c for c in texas if any(s["status"] == "completed" for s in snapshots[c]["services"])]
    assert served, texas

    # The person's consents: for most requests, each for a provider asked on that case.
    requested = await bus.events("services.requested", count=len(summary.services),
                                 where=lambda e: e["data"]["service_request_id"] in summary.services)
    consents = await bus.events("consents.recorded", count=len(summary.consents),
                                where=lambda e: e["data"]["consent_id"] in summary.consents)
    asked = {(e["data"]["case_id"], e["data"]["provider_id"]) for e in requested}
    assert len(consents) == len(summary.consents) and 0.3 <= len(consents) / len(requested) <= 1.0
    assert all((c["data"]["case_id"], c["data"]["recipient"]["id"]) in asked for c in consents)
    assert {c["data"]["form"] for c in consents} <= {"written", "electronic", "verbal"}


async def test_each_service_killed_once_during_500_encounters_loses_and_duplicates_nothing(system, bus) -> None:
    simulation = Simulation(system.settings, 500, rate=25, seed=7, respond_within=1.0,
                            shares=Shares(accept=0.8, decline=0.1, certifications=0.3, interviews=0.5,
                                          services=0.5))

    async def kill_each_once() -> None:
        for name in SERVICES:
            await asyncio.sleep(2.5)
            await system.restart(name)  # SIGKILL, then start again

    killer = asyncio.create_task(kill_each_once())
    summary = await simulation.execute(settle=20)
    await killer

    opened = await bus.events("cases.opened", where=lambda e: e["data"]["encounter_id"].startswith(
        f"SIM-{simulation.run}-"), count=500, timeout=120)
    cases_per_encounter = defaultdict(set)
    for event in opened:
        cases_per_encounter[event["data"]["encounter_id"]].add(event["data"]["case_id"])
    assert len(cases_per_encounter) == 500 == summary.published
    assert all(len(cases) == 1 for cases in cases_per_encounter.values())

    ours = {next(iter(c)) for c in cases_per_encounter.values()}
    latest: dict[str, dict[str, Any]] = {}
    for snapshot in await bus.events("cases.status", where=lambda e: e["subject"] in ours, timeout=30):
        if snapshot["data"]["version"] >= latest.get(snapshot["subject"], {}).get("version", 0):
            latest[snapshot["subject"]] = snapshot["data"]
    assert set(latest) == ours
    unassigned = [c for c, s in latest.items()
                  if s["referral"]["status"] == "unassigned" or not s["referral"]["referral_id"]]
    assert unassigned == []  # every encounter has one active referral (capacity is ample)

    # The read model took the first reaction of every service to each case: referral and
    # stabilization both answer the same cases.opened, and neither answer may shadow the other.
    read_model = system.settings.database("status")
    client = AsyncMongoClient(system.settings.mongo_uri)
    try:
        kinds = {d["_id"]: {m["kind"] for m in d["state"]["timeline"]}
                 async for d in client[read_model]["cases"].find({"_id": {"$in": sorted(ours)}})}
    finally:
        await client.close()
    missing = {c: sorted({"case_opened", "referral_assigned", "stabilization_progressed"} - k)
               for c, k in kinds.items()}
    assert set(kinds) == ours and not {c: m for c, m in missing.items() if m}

    # The mailbox holds each mail once. A repeat can come only from the crash window the
    # Message-ID exists for (accepted by the server, notify killed before recording it): at most
    # the sends in flight when notify was killed, never a re-send of what was already recorded.
    ids = system.message_ids()
    assert ids and max(ids.values()) == 1, [m for m, n in ids.items() if n > 1]
    repeats = system.repeats_set_aside()
    assert repeats <= system.settings.notify.delivery.concurrency, repeats
    print(json.dumps({"simulation": dict(summary.table()), "mails": len(ids), "repeats_set_aside": repeats},
                     indent=2))
    assert not [c for c in events.CANARIES if c in system.log_text()]


async def test_logs_were_written_by_every_service(system) -> None:
    for name in SERVICES:
        assert (Path(system.logs) / f"{name}.log").stat().st_size > 0
