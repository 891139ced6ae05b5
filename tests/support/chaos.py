"""A chaos run: ``make run``'s supervisor on servers of its own, traffic, and SIGKILLs at seeded moments.

:class:`RunUnderTest` starts ``python -m casework.supervisor`` as ``make run`` does, with a
private state directory and ports, so it starts (and restarts) a Kafka and a FerretDB of its
own; the servers on 9092 and 27017 are never touched. :class:`Traffic` reports encounters at
a steady rate (each with the canary identity of :mod:`tests.support.events`), re-sending an
encounter until the broker took it. :class:`Watch` reads the services' outputs from the
beginning for the whole run. :class:`Chaos` kills what the plan says, when it says, and
notes when each victim answered again. :func:`verdict` compares what came out with what went
in, and :func:`recoveries` says how long each kill held the cases up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from casework.readiness import answers_ready
from shared.cloudevents import CONTENT_TYPE
from shared.kafka import connection
from shared.settings import Settings
from shared.topics import CATALOGUE, dlq
from tests.support import events
from tests.support.procs import ROOT, free_port, free_ports

SERVICES = ("intake", "referral", "stabilization", "certification", "notify", "status")
SERVERS = ("kafka", "ferretdb")
OPS_ORDER = ("intake", "referral", "stabilization", "certification", "notify")  # casework.programs.ORDER
REGIONS = ("US-TX", "US-CA", "US-NY", "US-FL")
ASSIGNED = "casework.referral.assigned.v1"
SENT = "casework.notification.sent.v1"
# Every topic a service consumes has a dead-letter topic: an outage must never send a record there.
DEAD_LETTERS = tuple(sorted(dlq(t) for t in CATALOGUE if t not in ("cases.status", "certifications.status")))
LONG = str(7 * 24 * 3600)  # acknowledgement SLAs nobody reaches: no escalation, no reassignment


@dataclass(frozen=True)
class Size:
    """How big a run is: ``CASEWORK_CHAOS_ENCOUNTERS``, ``_RATE``, ``_KILLS`` (per service), ``_SEED``."""

    encounters: int
    rate: float
    kills: int
    seed: int

    @classmethod
    def from_env(cls) -> Size:
        env = os.environ
        return cls(encounters=int(env.get("CASEWORK_CHAOS_ENCOUNTERS", "300")),
                   rate=float(env.get("CASEWORK_CHAOS_RATE", "5")),
                   kills=int(env.get("CASEWORK_CHAOS_KILLS", "1")),
                   seed=int(env.get("CASEWORK_CHAOS_SEED", "20261202")))

    @property
    def duration(self) -> float:
        return self.encounters / self.rate


@dataclass(frozen=True)
class Kill:
    at: float  # seconds after the traffic began
    victim: str


def plan(size: Size) -> list[Kill]:
    """``size.kills`` SIGKILLs of each service, one of Kafka and one of FerretDB, at seeded moments
    within the traffic (between a tenth and nine tenths of it), in a seeded order."""
    rng = random.Random(size.seed)
    victims = [name for name in SERVICES for _ in range(size.kills)] + list(SERVERS)
    rng.shuffle(victims)
    moments = sorted(rng.uniform(0.1, 0.9) * size.duration for _ in victims)
    return [Kill(round(at, 2), victim) for at, victim in zip(moments, victims, strict=True)]


def demo_roster(capacity: int) -> dict[str, Any]:
    """The demo roster (examples/roster.yaml), every victim specialist with room for ``capacity`` cases."""
    roster = yaml.safe_load((ROOT / "examples" / "roster.yaml").read_text())
    for person in roster["specialists"]:
        if person["role"] == "victim_specialist":
            person["max_active_cases"] = capacity
    return roster


# -- the supervisor under test ----------------------------------------------------------------


class RunUnderTest:
    """``python -m casework.supervisor`` with a state directory, ports, servers and mail of its own."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.state = work / "state"
        self.outbox = work / "outbox"
        self.console = work / "console.txt"
        base = free_ports(len(OPS_ORDER))
        self.ports = {name: base + i for i, name in enumerate(OPS_ORDER)} | {"status": free_port()}
        self.kafka_port, self.controller_port, self.mongo_port = free_port(), free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")} | {
            "CASEWORK_ENVIRONMENT": "development", "CASEWORK_STATE_DIR": str(self.state),
            "CASEWORK_KAFKA_BOOTSTRAP": self.bootstrap, "CASEWORK_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "CASEWORK_MONGO_URI": f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true",
            "CASEWORK_OPS_BASE_PORT": str(base), "CASEWORK_DASHBOARD_PORT": str(self.ports["status"]),
            "CASEWORK_DASHBOARD_URL": f"http://127.0.0.1:{self.ports['status']}",
            "CASEWORK_SMTP_PORT": str(free_port()), "CASEWORK_OUTBOX_DIR": str(self.outbox),
            "CASEWORK_ACK_SLA_SECONDS_URGENT": LONG, "CASEWORK_ACK_SLA_SECONDS_HIGH": LONG,
            "CASEWORK_ACK_SLA_SECONDS_NORMAL": LONG,
            "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: set[int] = set()

    def kafka(self, principal: str) -> Callable[[], dict[str, Any]]:
        """How a client of this run's broker signs in as ``principal`` (the run writes the
        credentials when it first starts its Kafka: read them when connecting)."""
        kafka = self.state / "kafka"
        settings = Settings(environment="development", kafka_bootstrap=self.bootstrap,
                            kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=kafka / "tls" / "ca.pem",
                            kafka_credentials_dir=kafka / "principals")
        return lambda: connection(settings, principal)

    def start(self, *, within: float = 240) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        with self.console.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "casework.supervisor"], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + within
        while not re.search(r"^casework is running", self.text(), re.MULTILINE):
            assert self.proc.poll() is None, f"make run exited ({self.proc.returncode}):\n{self.text()[-6000:]}"
            assert time.monotonic() < deadline, f"make run not running within {within}s:\n{self.text()[-6000:]}"
            time.sleep(0.5)

    def load_roster(self, roster: dict[str, Any]) -> None:
        path = self.work / "roster.yaml"
        path.write_text(yaml.safe_dump(roster))
        done = subprocess.run([sys.executable, "-m", "casework", "roster", "load", str(path)], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    def text(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def descendants(self) -> list[psutil.Process]:
        assert self.proc is not None
        try:
            found = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen |= {p.pid for p in found}
        return found

    def pid_of(self, victim: str) -> int | None:
        """The running process of a service or a server (None: none right now)."""
        if victim in SERVERS:
            try:
                pid = int((self.state / "run" / f"{victim}.pid").read_text().strip())
            except (OSError, ValueError):
                return None
            return pid if _alive(pid) else None
        marker = f"services.{victim}.app:create_app"
        for process in self.descendants():
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(process.cmdline()) and process.status() != psutil.STATUS_ZOMBIE:
                    return process.pid
        return None

    async def answers(self, victim: str, client: httpx.AsyncClient) -> bool:
        if victim == "kafka":
            return await _probe("kafka", self.kafka_port, self.state / "kafka" / "principals" / "casework-admin.json")
        if victim == "ferretdb":
            return await _probe("mongo", self.mongo_port)
        return await answers_ready(client, self.ports[victim])

    def stop(self) -> None:
        """Ctrl-C, as a user stops ``make run``; then whatever this run started that is still alive."""
        if self.proc is None:
            return
        with contextlib.suppress(psutil.Error):
            self.descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for pidfile in (self.state / "run").glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                self.seen.add(int(pidfile.read_text()))
        for pid in self.seen:  # only what this run started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def logs(self) -> list[Path]:
        return [p for p in (self.state / "logs").rglob("*") if p.is_file()] + [self.console]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _probe(kind: str, port: int, *signed_in: Path) -> bool:
    done = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "infra" / "probe.py"), kind, "127.0.0.1",
                                                str(port), *map(str, signed_in), stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await done.wait() == 0


# -- traffic ------------------------------------------------------------------------------------


class Traffic:
    """Encounters at ``rate`` per second, each re-sent until the broker has it (the broker may be down)."""

    def __init__(self, kafka: Callable[[], dict[str, Any]], size: Size) -> None:
        self.kafka = kafka  # an agency's connection
        self.size = size
        self.rng = random.Random(size.seed + 1)
        self.run = f"{size.seed:x}"[-6:]
        self.sent: dict[str, float] = {}  # encounter id -> when the broker took it (epoch seconds)
        self.resends = 0
        self.started = 0.0  # monotonic
        self.took = 0.0  # seconds from the first encounter to the broker taking the last

    def encounter(self, index: int) -> dict[str, Any]:
        rng = self.rng
        minor = rng.random() < 0.15
        person: dict[str, Any] = {"languages": [rng.choice(["es", "en", "zh", "vi", "fr"])],
                                  "interpreter_needed": rng.random() < 0.5,
                                  "given_name": events.CANARY_GIVEN, "family_name": events.CANARY_FAMILY}
        if minor:
            person |= {"age_estimate": rng.randint(12, 17), "date_of_birth": None}
        data = events.encounter_data(f"CHAOS-{self.run}-{index:05d}", region=rng.choice(REGIONS), person=person,
                                     urgent_needs=sorted(rng.sample(["shelter", "medical", "safety"],
                                                                    rng.randint(0, 2))))
        return events.cloudevent("casework.encounter.reported.v1", data, subject=data["encounter_id"])

    async def report(self) -> None:
        self.started = time.monotonic()
        producer: AIOKafkaProducer | None = None
        try:
            for index in range(self.size.encounters):
                await asyncio.sleep(max(0.0, self.started + index / self.size.rate - time.monotonic()))
                event = self.encounter(index)
                value = json.dumps(event).encode()
                while True:
                    try:
                        if producer is None:
                            producer = AIOKafkaProducer(**self.kafka(), acks="all",
                                                        enable_idempotence=True, request_timeout_ms=10000)
                            await asyncio.wait_for(producer.start(), 15)
                        await asyncio.wait_for(producer.send_and_wait(
                            "encounters.reported", value, key=event["subject"].encode(),
                            headers=[("content-type", CONTENT_TYPE.encode())]), 15)
                        break
                    except Exception:  # the broker is away: a new producer, the same event again
                        self.resends += 1
                        if producer is not None:
                            with contextlib.suppress(Exception):
                                await asyncio.wait_for(producer.stop(), 5)
                        producer = None
                        await asyncio.sleep(0.5)
                self.sent[event["subject"]] = time.time()
            self.took = time.monotonic() - self.started
        finally:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 10)


# -- what comes out -----------------------------------------------------------------------------


@dataclass
class Seen:
    record_time: float  # epoch seconds (the producer's timestamp)
    event: dict[str, Any]


@dataclass
class Watch:
    """Every record of the outputs the verdict needs, read from the beginning for the whole run."""

    kafka: Callable[[], dict[str, Any]]  # an operator's connection (reads every topic)
    topics: tuple[str, ...] = ("cases.opened", "referrals.events", "cases.status", "notifications.events",
                               *DEAD_LETTERS)
    records: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))

    async def follow(self) -> None:
        consumer = AIOKafkaConsumer(**self.kafka(), group_id=None, auto_offset_reset="earliest",
                                    enable_auto_commit=False, metadata_max_age_ms=5000)
        await consumer.start()
        try:  # the services made their topics at start; a dead-letter topic no service reads is not there
            existing = await consumer.topics()
            consumer.subscribe([t for t in self.topics if t in existing or t not in DEAD_LETTERS])
            while True:
                try:
                    fetched = await consumer.getmany(timeout_ms=500, max_records=2000)
                except KafkaError:  # the broker is being restarted: the positions are kept, read on
                    await asyncio.sleep(0.5)
                    continue
                for tp, batch in fetched.items():
                    for record in batch:
                        if tp.topic in DEAD_LETTERS:  # kept as they are: a dead letter need not be JSON
                            self.records[tp.topic].append(Seen(record.timestamp / 1000, {}))
                            continue
                        with contextlib.suppress(ValueError, TypeError):
                            self.records[tp.topic].append(Seen(record.timestamp / 1000, json.loads(record.value)))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)


@dataclass(frozen=True)
class Mail:
    path: Path
    message_id: str
    subject: str
    to: str
    filed: float  # epoch seconds (from the sink's file name)


def mails(directory: Path) -> list[Mail]:
    found = []
    for path in sorted(directory.glob("*.eml")):
        headers = BytesHeaderParser().parsebytes(path.read_bytes())
        stamp = datetime.strptime(path.name.split("-", 1)[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        found.append(Mail(path, str(headers["Message-ID"]), str(headers["Subject"]), str(headers["To"]),
                          stamp.timestamp()))
    return found


# -- the kills ------------------------------------------------------------------------------------


@dataclass
class Done:
    kill: Kill
    killed_at: float  # epoch seconds
    pid: int
    ready_after: float | None = None  # seconds until the victim answered again (a new process)
    all_ready_after: float | None = None  # seconds until every service answered again


class Chaos:
    """Carries out the plan on a running system; a victim not running at its moment is waited for."""

    def __init__(self, run: RunUnderTest, traffic: Traffic, kills: list[Kill]) -> None:
        self.run = run
        self.traffic = traffic
        self.kills = kills
        self.done: list[Done] = []
        self.follow_ups: list[asyncio.Task[None]] = []

    async def execute(self) -> None:
        async with httpx.AsyncClient() as client:
            for kill in self.kills:
                await asyncio.sleep(max(0.0, self.traffic.started + kill.at - time.monotonic()))
                pid = await self._running(kill.victim)
                os.kill(pid, signal.SIGKILL)
                done = Done(kill, time.time(), pid)
                self.done.append(done)
                self.follow_ups.append(asyncio.create_task(self._back(done, client)))
            await asyncio.gather(*self.follow_ups)

    async def _running(self, victim: str, within: float = 300) -> int:
        deadline = time.monotonic() + within
        while (pid := self.run.pid_of(victim)) is None:
            assert time.monotonic() < deadline, f"{victim} not running for {within}s:\n{self.run.text()[-4000:]}"
            await asyncio.sleep(0.2)
        return pid

    async def _back(self, done: Done, client: httpx.AsyncClient, within: float = 600) -> None:
        deadline = time.monotonic() + within
        victim = done.kill.victim
        while done.ready_after is None or done.all_ready_after is None:
            assert time.monotonic() < deadline, f"{victim} not back within {within}s:\n{self.run.text()[-4000:]}"
            now = time.time()
            if done.ready_after is None:
                pid = self.run.pid_of(victim)
                if pid is not None and pid != done.pid and await self.run.answers(victim, client):
                    done.ready_after = now - done.killed_at
            if done.ready_after is not None:
                answering = await asyncio.gather(*(self.run.answers(s, client) for s in SERVICES))
                if all(answering):
                    done.all_ready_after = now - done.killed_at
            await asyncio.sleep(0.2)


# -- the verdict ----------------------------------------------------------------------------------


@dataclass
class Verdict:
    encounters: int
    opened: dict[str, set[str]]  # encounter id -> case ids
    opened_records: int
    assignments: dict[str, set[str]]  # case id -> ids of the assignment events
    assigned_records: int
    referral_mails: dict[str, list[Mail]]  # case id -> its "Referral assigned" mails in the outbox
    message_ids: Counter[str]
    repeats: list[Mail]  # set aside by the sink in duplicates/
    incomplete: dict[str, str]  # case id -> what its last snapshot lacks
    dead_letters: dict[str, int]  # dead-letter topic -> records on it
    misaddressed: dict[str, str]  # case id -> the address its referral mail went to, not its specialist's

    @property
    def cases(self) -> set[str]:
        return {case for found in self.opened.values() for case in found}

    def lost(self, sent: dict[str, float]) -> dict[str, list[str]]:
        cases = self.cases
        return {
            "encounters without a case": sorted(set(sent) - set(self.opened)),
            "cases never assigned": sorted(cases - set(self.assignments)),
            "cases without a referral mail": sorted(cases - set(self.referral_mails)),
            "cases without a complete snapshot": sorted(self.incomplete),
        }


def latest_snapshots(watch: Watch) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for seen in watch.records["cases.status"]:
        data = seen.event.get("data") or {}
        case = data.get("case_id")
        if case and data.get("version", 0) >= latest.get(case, {}).get("version", 0):
            latest[case] = data
    return latest


def assignment_of(watch: Watch) -> dict[str, dict[str, Any]]:
    return {s.event["data"]["case_id"]: s.event["data"]
            for s in watch.records["referrals.events"] if s.event.get("type") == ASSIGNED}


def incomplete(snapshot: dict[str, Any] | None, assigned: dict[str, Any] | None, encounter: str) -> str:
    """What a case's last snapshot lacks ('' when complete): its encounter, its assignment, the plan."""
    if snapshot is None:
        return "no snapshot"
    referral = snapshot.get("referral") or {}
    if snapshot.get("encounter_id") != encounter:
        return "another encounter"
    if assigned is None or referral.get("status") != "assigned":
        return f"referral {referral.get('status')}"
    if (referral.get("referral_id"), referral.get("specialist_id")) != (assigned["referral_id"],
                                                                         assigned["specialist_id"]):
        return "not the referral assigned"
    if not referral.get("ack_due_at") or not referral.get("assigned_at"):
        return "referral without its times"
    if snapshot.get("version", 0) < 3:  # cases.opened, the assignment and a first plan summary
        return f"version {snapshot.get('version')}"
    return ""


def verdict(watch: Watch, traffic: Traffic, run: RunUnderTest, emails: dict[str, str]) -> Verdict:
    """``emails``: each specialist's address on the roster, by specialist id."""
    sent = traffic.sent
    opened: dict[str, set[str]] = defaultdict(set)
    encounter_of: dict[str, str] = {}
    for seen in watch.records["cases.opened"]:
        data = seen.event["data"]
        if data["encounter_id"] in sent:
            opened[data["encounter_id"]].add(data["case_id"])
            encounter_of[data["case_id"]] = data["encounter_id"]
    assignments: dict[str, set[str]] = defaultdict(set)
    assigned_records = 0
    for seen in watch.records["referrals.events"]:
        if seen.event.get("type") == ASSIGNED and seen.event["data"]["case_id"] in encounter_of:
            assignments[seen.event["data"]["case_id"]].add(seen.event["id"])
            assigned_records += 1
    filed = mails(run.outbox)
    referral_mails: dict[str, list[Mail]] = defaultdict(list)
    for mail in filed:
        if mail.subject.startswith("Referral assigned: "):
            case = mail.subject.removeprefix("Referral assigned: ").strip()
            if case in encounter_of:
                referral_mails[case].append(mail)
    snapshots, assigned = latest_snapshots(watch), assignment_of(watch)
    lacking = {case: why for case, encounter in encounter_of.items()
               if (why := incomplete(snapshots.get(case), assigned.get(case), encounter))}
    misaddressed = {case: ms[0].to for case, ms in referral_mails.items()
                    if case in assigned and emails.get(assigned[case]["specialist_id"]) != ms[0].to}
    return Verdict(
        encounters=len(sent), opened=dict(opened),
        opened_records=sum(1 for s in watch.records["cases.opened"] if s.event["data"]["encounter_id"] in sent),
        assignments=dict(assignments), assigned_records=assigned_records, referral_mails=dict(referral_mails),
        message_ids=Counter(m.message_id for m in filed), repeats=mails(run.outbox / "duplicates"),
        incomplete=lacking,
        dead_letters={t: len(watch.records[t]) for t in DEAD_LETTERS if watch.records[t]}, misaddressed=misaddressed)


def canaries_in(run: RunUnderTest) -> dict[str, list[str]]:
    """The canaries each log under the state directory (and the console) names."""
    found = {}
    for path in run.logs():
        text = path.read_text(errors="replace")
        if named := [c for c in events.CANARIES if c in text]:
            found[str(path.relative_to(run.work))] = named
    return found


def recoveries(chaos: Chaos, traffic: Traffic, watch: Watch, run: RunUnderTest) -> list[dict[str, Any]]:
    """Per kill: when the victim and every service answered again; how long until a case reported
    after the kill had its referral mail filed, and its complete snapshot published; and the
    longest stretch without any referral mail from the kill until 30 s after the victim was back
    (how long the mail path stood still)."""
    case_of = {s.event["data"]["encounter_id"]: s.event["data"]["case_id"] for s in watch.records["cases.opened"]}
    mailed: dict[str, float] = {}
    for mail in mails(run.outbox):
        if mail.subject.startswith("Referral assigned: "):
            case = mail.subject.removeprefix("Referral assigned: ").strip()
            mailed[case] = min(mailed.get(case, mail.filed), mail.filed)
    assigned, snapshotted = assignment_of(watch), {}
    for seen in watch.records["cases.status"]:
        data = seen.event.get("data") or {}
        case = data.get("case_id", "")
        if not incomplete(data, assigned.get(case), data.get("encounter_id", "")):
            snapshotted[case] = min(snapshotted.get(case, seen.record_time), seen.record_time)
    filed = sorted(mailed.values())
    rows = []
    for done in chaos.done:
        after = [case_of[e] for e, t in traffic.sent.items() if t >= done.killed_at and e in case_of]
        first_mail = min((mailed[c] for c in after if c in mailed), default=None)
        first_snapshot = min((snapshotted[c] for c in after if c in snapshotted), default=None)
        rows.append({
            "victim": done.kill.victim, "at_s": done.kill.at,
            "killed_at": datetime.fromtimestamp(done.killed_at, UTC).strftime("%H:%M:%S.%f")[:-3],
            "ready_again_s": _round(done.ready_after), "all_services_ready_s": _round(done.all_ready_after),
            "next_case_mailed_s": _round(first_mail - done.killed_at if first_mail else None),
            "next_case_status_s": _round(first_snapshot - done.killed_at if first_snapshot else None),
            "mail_stall_s": _round(longest_gap(filed, done.killed_at, done.killed_at + (done.ready_after or 0) + 30)),
        })
    return rows


def longest_gap(moments: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] with none of the (sorted) ``moments`` in it."""
    inside = [m for m in moments if start < m < end]
    edges = [start, *inside, end]
    return max(b - a for a, b in pairwise(edges))


def recovery_table(rows: list[dict[str, Any]]) -> str:
    """The recoveries as a table for the console (seconds; '-' where nothing came after)."""
    columns = ("victim", "at_s", "ready_again_s", "all_services_ready_s", "next_case_mailed_s", "next_case_status_s",
               "mail_stall_s")
    lines = ["  ".join(f"{c:>20}" for c in columns)]
    lines += ["  ".join(f"{'-' if row[c] is None else row[c]:>20}" for c in columns) for row in rows]
    return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def repeats_unexplained(repeats: list[Mail], originals: list[Mail], done: list[Done], watch: Watch) -> list[str]:
    """The repeats the documented crash window does not explain. In that window notify handed the
    mail to the SMTP server and was killed before it recorded the delivery: the original was filed
    before a kill of notify and the repeat after it, and the delivery was recorded only for a later
    attempt (no ``notification.sent`` of the first attempt: that one was never recorded). A repeat
    of a delivery recorded as sent would be a bug."""
    first = {m.message_id: m.filed for m in originals}
    notify_kills = [d.killed_at for d in done if d.kill.victim == "notify"]
    attempts: dict[str, set[int]] = defaultdict(set)
    for seen in watch.records["notifications.events"]:
        if seen.event.get("type") == SENT:
            attempts[seen.event["data"]["notification_id"]].add(seen.event["data"]["attempts"])
    unexplained = []
    for repeat in repeats:
        original = first.get(repeat.message_id)
        notification = repeat.message_id.strip("<>").split(".", 1)[0]
        killed_between = original is not None and any(original <= k <= repeat.filed for k in notify_kills)
        recorded_first = 1 in attempts.get(notification, set()) or not attempts.get(notification)
        if not killed_between or recorded_first:
            unexplained.append(f"{repeat.message_id} ({repeat.subject}): sent as attempt(s) "
                               f"{sorted(attempts.get(notification, set()))}")
    return unexplained
