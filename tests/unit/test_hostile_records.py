"""The hostile record generator (tests/support/hostile.py) and what the services' readers make of it.

Each record says what must become of it; here that is checked against every service's own
topic reader, without servers, so the end-to-end fuzz test's expectations are the code's.
Hostile input that a reader must still accept — headers without a value or not UTF-8, a
correlation id that is a person's name — is covered too.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.intake import app as intake
from shared.contracts.inbound import EncounterReported
from shared.crypto import KeyRing
from shared.kit.inbound import TopicReader
from shared.kit.memory import MemoryBackend, RecordingPublisher
from shared.settings import IntakeSettings, Settings
from tests.support import events
from tests.support.hostile import CANARY, SEEDED, TOPICS, CaseRef, Fuzz, Record
from tests.support.readers import outcome, readers


def raw(r: Record, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(r.topic, 0, offset, 0, 0, r.key, r.value, None, 0, 0, r.headers)


def sample(seed: int) -> list[Record]:
    fuzz = Fuzz(seed)
    return fuzz.opening(1500) + fuzz.following([CaseRef("CASE-1", "ref-1", "vs-any-1")], 300)


def test_the_same_seed_gives_the_same_records() -> None:
    assert sample(3) == sample(3) and sample(3) != sample(4)


@pytest.mark.parametrize("seed", [1, 2, 20261202])
def test_each_record_is_what_it_says_to_every_service_that_reads_its_topic(seed: int) -> None:
    wrong = Counter()
    for i, record in enumerate(sample(seed)):
        outcomes = {name: outcome(reader, raw(record, i)) for name, reader in readers()[record.topic]}
        if record.expect == "dlq":
            ok = "dlq" in outcomes.values() and "valid" not in outcomes.values()
        else:
            ok = set(outcomes.values()) == {record.expect}
        if not ok:
            wrong[(record.topic, record.kind, record.expect, tuple(sorted(outcomes.items())))] += 1
    assert not wrong, wrong.most_common(5)


def test_every_topic_a_service_reads_gets_every_kind_of_hostile_record() -> None:
    records = sample(1)
    assert set(TOPICS) == set(readers())
    assert {r.topic for r in records} == set(TOPICS)
    kinds = {r.kind.split(":")[0] for r in records}
    assert kinds >= {"not-json", "non-utf8", "tombstone", "wrong-type", "unknown-field", "hostile-id", "deep-20000",
                     "huge", "huge-number", "over-limit", "duplicate-keys", "wrong-ce-type", "envelope", "valid",
                     "valid-roster", "bidi-text", "near-limit", "long-text", "repeat", "reused-id",
                     "hostile-attributes", "hostile-key"}
    headers = [v for r in records for _, v in r.headers]
    assert None in headers and any(v and len(v) >= 64 * 1024 for v in headers)
    assert any(v and not _utf8(v) for v in headers)
    assert Counter(r.expect for r in records).keys() == {"valid", "dlq", "skip"}
    seeded = Counter(SEEDED.encode() in (r.value or b"") for r in records)  # valid encounters carry it too
    assert seeded[True] > seeded[False]


def _utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


READER = TopicReader("encounters.reported", (EncounterReported,), strict_types=True)


def test_a_hostile_correlation_id_is_never_the_one_logged() -> None:
    for hostile in (SEEDED, f"\u202e{CANARY}", "c" * 200):
        event = events.encounter("ENC-corr-1") | {"correlationid": hostile}
        record = ConsumerRecord("encounters.reported", 0, 0, 0, 0, None, json.dumps(event).encode(), None, 0, 0,
                                [("correlation_id", f"{hostile}\x1b".encode()), ("x", None)])
        inbound = READER.read(record)  # a valid event: hostile attributes and headers do not stop it
        assert inbound.correlation_id == event["id"]


def test_an_identifier_correlation_id_is_kept() -> None:
    event = events.encounter("ENC-corr-2") | {"correlationid": "corr-7"}
    record = ConsumerRecord("encounters.reported", 0, 0, 0, 0, None, json.dumps(event).encode(), None, 0, 0,
                            [("correlation_id", b"\xff")])
    assert READER.read(record).correlation_id == "corr-7"


@pytest.mark.parametrize("hostile", [f"{SEEDED}\x07", "\x1b[31mred", "c" * 2000, f"\u202e{CANARY}\n"])
async def test_a_valid_encounter_with_a_hostile_correlation_id_opens_a_case_every_reader_can_read(
        tmp_path: Any, hostile: str) -> None:
    """The case intake opens carries the correlation id on: a header's control characters or
    length once made it an event no service downstream could read (dead-lettered, never assigned)."""
    publisher = RecordingPublisher()
    spare = IntakeSettings(dev_keyring_path=tmp_path / "k", dev_vault_reader_token_path=tmp_path / "r")
    service = intake.bootstrap(Settings(topic_prefix="u.", intake=spare),
                               keyring=KeyRing({"k": os.urandom(32)}, "k"), backend=MemoryBackend(),
                               publisher=publisher)
    event = events.encounter("ENC-corr-3")
    [consume] = [c for c in service.consumers if c.reader.topic == "encounters.reported"]
    await consume([ConsumerRecord("encounters.reported", 0, 0, 0, 0, b"ENC-corr-3", json.dumps(event).encode(),
                                  None, 0, 0, [("correlation_id", hostile.encode())])])
    [opened] = publisher.on("cases.opened")
    assert publisher.raw == []  # not dead-lettered
    for name, reader in readers()["cases.opened"]:
        record = ConsumerRecord("cases.opened", 0, 0, 0, 0, None, opened["value"].encode(), None, 0, 0, [])
        assert outcome(reader, record) == "valid", name
    assert json.loads(opened["value"])["correlationid"] == event["id"]
