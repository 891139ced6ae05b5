"""No message can stop a consumer: hostile records on every topic a service reads, through the
real broker, to the six services as real processes.

``CASEWORK_FUZZ_RECORDS`` records (1,500 by default; ``make fuzz`` sends 10,000) from
:mod:`tests.support.hostile`, in two rounds: hostile records on every topic with valid
encounters and roster entries among them, then hostile records among one valid event per
other inbound topic for each case the first round opened. Every valid event has its effect
exactly once, every invalid one is on ``<topic>.dlq`` once per service that reads the topic,
with the ``x-dlq-*`` headers, every service stays ready, and the seeded name appears nowhere
but in the dead letters' copies of what was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pymongo import AsyncMongoClient

from shared.kafka import connection, tolerant
from shared.settings import DeliverySettings, KitSettings, NotifySettings, Settings, SmtpSettings, StatusSettings
from shared.topics import CATALOGUE, MAX_MESSAGE_BYTES, dlq
from tests.support.hostile import CANARY, TOPICS, CaseRef, Fuzz, Record
from tests.support.kafka import publish_undecodable
from tests.support.procs import free_port
from tests.support.readers import outcome, readers
from tests.support.system import System, running

RECORDS = int(os.environ.get("CASEWORK_FUZZ_RECORDS", "1500"))
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300 + RECORDS // 20)]
SEED = int(os.environ.get("CASEWORK_FUZZ_SEED", "20261202"))
WAIT = 120 + RECORDS / 40  # seconds for a round to settle: generous, never asserted on
DLQ_HEADERS = ("x-dlq-error-type", "x-dlq-error", "x-dlq-source", "x-dlq-attempts")


def fuzz_settings(tmp: Path) -> Settings:
    tag = os.urandom(4).hex()
    return Settings(
        topic_prefix=f"f{tag}.", db_prefix=f"f{tag}_", kit=KitSettings(timer_sweep_seconds=0.5, fetch_max_wait_ms=100),
        notify=NotifySettings(smtp=SmtpSettings(port=free_port()), outbox_dir=tmp / "outbox",
                              delivery=DeliverySettings(retry_base_seconds=0.5)),
        status=StatusSettings(dashboard_port=free_port(), dashboard_url="http://127.0.0.1:8080"))


def _told(timeout: float, what: str | Callable[[], str]) -> str:
    return f"not within {timeout:.0f} s: {what if isinstance(what, str) else what()}"


class Tail:
    """One reader of many topics from their beginning, keeping everything it has read."""

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self.settings = settings
        self.records: dict[str, list[ConsumerRecord]] = defaultdict(list)
        self.ours: set[tuple[str, int, int]] = set()  # what the test itself published
        self.undecodable: list[tuple[str, int, int]] = []  # what this reader could not decode either
        self.fetch = tolerant(self._getmany, self._passed_over)
        self.consumer = AIOKafkaConsumer(*(settings.topic(t) for t in topics),
                                         **connection(settings, "admin"), auto_offset_reset="earliest",
                                         enable_auto_commit=False, group_id=None,
                                         fetch_max_bytes=64 * 1024 * 1024,
                                         max_partition_fetch_bytes=MAX_MESSAGE_BYTES * 2)

    async def start(self) -> None:
        await self.consumer.start()

    async def _getmany(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        return tuple(r for recs in batch.values() for r in recs)

    async def _passed_over(self, tp: TopicPartition, offset: int) -> None:
        self.undecodable.append((tp.topic, tp.partition, offset))

    async def stop(self) -> None:
        await self.consumer.stop()

    def on(self, topic: str) -> list[ConsumerRecord]:
        return self.records[self.settings.topic(topic)]

    async def until(self, done: Callable[[], bool], *, timeout: float, what: str | Callable[[], str]) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, _told(timeout, what)
            for r in await self.fetch(self.consumer):
                self.records[r.topic].append(r)

    async def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        await self.until(lambda: time.monotonic() > deadline, timeout=seconds + 5, what="draining")

    def events(self, topic: str, where: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[dict[str, Any]]:
        out = []
        for r in self.on(topic):
            if (r.topic, r.partition, r.offset) in self.ours:
                continue
            try:
                event = json.loads(r.value)
            except (TypeError, ValueError, RecursionError):
                continue
            if isinstance(event, dict) and isinstance(event.get("data"), dict) and where(event):
                out.append(event)
        return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    workdir = tmp_path_factory.mktemp("fuzz")
    async with running(fuzz_settings(workdir), workdir) as started:
        yield started


async def publish(producer: AIOKafkaProducer, settings: Settings, records: list[Record]) -> list[tuple[str, int, int]]:
    """Send in order; return each record's (physical topic, partition, offset)."""
    futures = [await producer.send(settings.topic(r.topic), r.value, key=r.key, headers=r.headers) for r in records]
    return [(m.topic, m.partition, m.offset) for m in await asyncio.gather(*futures)]


def expected_letters(record: Record, at: tuple[str, int, int]) -> int:
    """How many services dead-letter this record: those whose reader cannot read it."""
    raw = ConsumerRecord(at[0], at[1], at[2], 0, 0, record.key, record.value, None, 0, 0, record.headers)
    outcomes = [outcome(reader, raw) for _, reader in readers()[record.topic]]
    assert record.expect != "valid" or set(outcomes) == {"valid"}, (record.kind, outcomes)
    assert record.expect != "dlq" or "dlq" in outcomes, (record.kind, outcomes)
    return outcomes.count("dlq")


async def test_no_message_stops_a_consumer_and_every_valid_event_has_its_effect_once(system: System) -> None:
    settings = system.settings
    started = time.monotonic()
    fuzz = Fuzz(SEED)
    share = 0.08 if RECORDS <= 3000 else 0.05
    tail = Tail(settings, sorted(CATALOGUE) + [dlq(t) for t in TOPICS])
    producer = AIOKafkaProducer(**connection(settings, "admin"), acks="all", enable_idempotence=True,
                                max_request_size=MAX_MESSAGE_BYTES + 64 * 1024, linger_ms=5)
    await producer.start()
    await tail.start()
    try:
        # Round one: hostile records everywhere, valid encounters and roster entries among them.
        first = fuzz.opening(int(RECORDS * 0.7), valid_share=share)
        half = len(first) // 2
        sent = list(zip(first[:half], await publish(producer, settings, first[:half]), strict=True))
        # Records the Kafka client cannot decode (a header name that is not UTF-8), by another producer.
        undecodable = [fuzz.hostile(topic) for topic in TOPICS[: max(2, min(len(TOPICS), RECORDS // 1500))]]
        for record in undecodable:
            publish_undecodable(settings, record.topic, record.value or b"{}", (record.key or b"k").hex())
        sent += list(zip(first[half:], await publish(producer, settings, first[half:]), strict=True))
        tail.ours |= {at for _, at in sent}
        cases = {r.effect[1] for r, _ in sent if r.effect and r.effect[0] == "case"}

        def opened() -> dict[str, list[dict[str, Any]]]:
            found: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for e in tail.events("cases.opened"):
                found[f"{e['data'].get('agency_id')}/{e['data'].get('encounter_id')}"].append(e)
            return found

        await tail.until(lambda: cases <= set(opened()), timeout=WAIT,
                         what=lambda: f"every valid encounter opened a case: not {sorted(cases - set(opened()))[:5]}")
        ours = {key: events for key, events in opened().items() if key in cases}
        case_ids = {e["data"]["case_id"] for events in ours.values() for e in events}

        def assigned() -> dict[str, dict[str, Any]]:
            return {e["data"]["case_id"]: e["data"] for e in tail.events(
                "referrals.events", lambda e: e["type"] == "casework.referral.assigned.v1")
                if e["data"].get("case_id") in case_ids}

        await tail.until(lambda: set(assigned()) == case_ids, timeout=WAIT,
                         what=lambda: f"every case assigned: not {sorted(case_ids - set(assigned()))[:5]}")
        refs = [CaseRef(c, a["referral_id"], a["specialist_id"]) for c, a in sorted(assigned().items())]

        # Round two: one valid event per other inbound topic for each case, hostile records among them.
        second = fuzz.following(refs, RECORDS - len(first))
        sent += list(zip(second, await publish(producer, settings, second), strict=True))
        produced = tail.ours = {at for _, at in sent}

        def reasons(kinds: list[str]) -> list[ConsumerRecord]:
            return [r for t in TOPICS for r in tail.on(dlq(t))
                    if dict(r.headers).get("x-dlq-error-type", b"").decode() in kinds]

        letters_due = {at: expected_letters(r, at) for r, at in sent}
        await tail.until(lambda: len(reasons(["UndecodableRecord"])) >= sum(
            len(readers()[r.topic]) for r in undecodable), timeout=WAIT, what="every undecodable record set aside")
        for letter in reasons(["UndecodableRecord"]):  # each by every service that reads its topic
            source = dict(letter.headers)["x-dlq-source"].decode()
            at = tuple(source.rsplit("/", 2))
            letters_due[(at[0], int(at[1]), int(at[2]))] = len(readers()[at[0].removeprefix(settings.topic_prefix)])
            tail.ours.add((at[0], int(at[1]), int(at[2])))

        def letters() -> Counter[str]:
            return Counter(dict(r.headers).get("x-dlq-source", b"").decode()
                           for t in TOPICS for r in tail.on(dlq(t)))

        def sources(at: tuple[str, int, int]) -> str:
            return "/".join(map(str, at))

        def follow_ups_done() -> bool:
            return (len(accepted()) >= len(refs) and len(rights()) >= len(refs) and len(interviews()) >= len(refs)
                    and len(granted()) >= len(refs))

        def accepted() -> list[dict[str, Any]]:
            wanted = {r.referral_id for r in refs}
            return [e for e in tail.events("referrals.events", lambda e: e["type"] == "casework.referral.accepted.v1")
                    if e["data"].get("referral_id") in wanted]

        def rights() -> list[dict[str, Any]]:
            return [e for e in tail.events("stabilization.events", lambda e: e["data"].get("change") ==
                                           "rights_explained") if e["data"].get("case_id") in case_ids]

        def interviews() -> list[dict[str, Any]]:
            kinds = {"casework.interview.deferred.v1", "casework.interview.cleared.v1"}
            return [e for e in tail.events("stabilization.events", lambda e: e["type"] in kinds)
                    if e["data"].get("case_id") in case_ids]

        def granted() -> list[dict[str, Any]]:
            return [e for e in tail.events("certifications.events", lambda e: e["data"].get("status") == "granted"
                                           and e["type"] == "casework.certification.status_changed.v1")
                    if e["data"].get("case_id") in case_ids]

        due = Counter({sources(at): n for at, n in letters_due.items() if n})
        await tail.until(lambda: follow_ups_done() and letters() >= due, timeout=WAIT,
                         what="every follow-up applied and every invalid record dead-lettered")
        await tail.drain(5)  # what would be a duplicate has time to arrive
        await tail.until(lambda: case_ids <= {r.key.decode() for r in tail.on("cases.status") if r.key},
                         timeout=WAIT, what="every case on cases.status")

        effects = {"cases": opened(), "accepted": accepted(), "rights": rights(), "interviews": interviews(),
                   "granted": granted()}
        per_case = {name: Counter(e["data"]["case_id"] for e in found)
                    for name, found in effects.items() if name != "cases"}
        expected_effects = len(cases) + 4 * len(case_ids)
        had = len(set(effects["cases"]) & cases) + sum(len(set(c) & case_ids) for c in per_case.values())
        repeated = sum(len(v) - 1 for v in effects["cases"].values()) + sum(
            n - 1 for c in per_case.values() for n in c.values())
        got = letters()
        valid = sum(1 for r, _ in sent if r.expect == "valid")
        print(f"\nfuzz: {len(sent)} records tried: {valid} valid, {len(sent) - valid} invalid "
              f"({sum(1 for r, _ in sent if r.expect == 'skip')} of them of another type, passed over); "
              f"{expected_effects} effects due, {expected_effects - had} lost, {repeated} duplicated; "
              f"{sum(due.values())} dead letters due ({sum(1 for n in due.values() if n)} records), "
              f"{sum(got.values())} written, {sum((due - got).values())} missing, {sum((got - due).values())} extra; "
              f"{time.monotonic() - started:.0f} s")

        # Every valid event had its effect exactly once, and nothing else opened a case.
        assert set(opened()) == cases
        assert [key for key, events in opened().items() if len(events) != 1] == []
        for name, counts in per_case.items():
            assert set(counts) == case_ids and set(counts.values()) == {1}, (name, counts.most_common(3))
        specialists = {r.effect[1] for r, _ in sent if r.effect and r.effect[0] == "specialist"}
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
        try:
            roster = {d["_id"] async for d in client[settings.database("referral")]["roster"].find(
                {"_id": {"$in": sorted(specialists)}}, {"_id": 1})}
            assert roster == specialists

            # Every invalid record is dead-lettered once by each service that cannot read it, and nothing else is.
            assert got == due, (sum((got - due).values()), sum((due - got).values()))
            by_source = {sources(at): r for r, at in sent}
            undecodable_sources = {s for s, n in due.items() if s not in by_source}
            # the references name the very records the test's own reader could not decode either
            assert {sources(at) for at in tail.undecodable} == undecodable_sources
            assert len(undecodable_sources) == len(undecodable)
            for topic in TOPICS:
                for letter in tail.on(dlq(topic)):
                    headers = dict(letter.headers)
                    assert all(h in headers for h in DLQ_HEADERS)
                    assert not [h for h in DLQ_HEADERS if CANARY.encode() in headers[h]]
                    if headers["x-dlq-source"].decode() in undecodable_sources:
                        assert headers["x-dlq-error-type"] == b"UndecodableRecord"
                        continue
                    original = by_source[headers["x-dlq-source"].decode()]
                    assert original.expect == "dlq" and original.topic == topic
                    assert letter.value == (original.value or b"") or b'"dead_letter": "reference"' in letter.value

            # No consumer stopped: every service is alive and ready, and the last valid events were processed.
            async with httpx.AsyncClient() as http:
                for process in system.services.values():
                    assert process.exited() is None, f"{process.name} exited"
                    assert (await http.get(f"http://127.0.0.1:{process.port}/readyz")).status_code == 200

            # The seeded name is nowhere but in the dead letters' copies of what came in.
            written = [r for t in CATALOGUE for r in tail.on(t) if (r.topic, r.partition, r.offset) not in produced]
            assert not [r.topic for r in written if CANARY.encode() in (r.value or b"") + repr(r.headers).encode()]
            logs = system.log_text()
            assert "dead-lettered" in logs and CANARY not in logs
            assert not [m for m in system.mails() if CANARY in m.as_string()]
            for name in ("referral", "stabilization", "certification", "notify", "status", "intake"):
                db = client[settings.database(name)]
                for collection in await db.list_collection_names():
                    async for doc in db[collection].find({}):
                        assert CANARY not in repr(doc), f"{name}.{collection}"
        finally:
            await client.close()

    finally:
        await tail.stop()
        await producer.stop()
