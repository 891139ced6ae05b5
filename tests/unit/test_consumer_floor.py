"""The floor under every failure of a consumer, without servers (docs/design.md, "Retries and dead letters").

Every record ends processed, dead-lettered or held: nothing a record holds can make the
consumer raise except the infrastructure being away, an error of the record's own is
bounded by the delivery attempts, and nothing of the input reaches a header or an alert.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake import app as intake
from shared.contracts.inbound import EncounterReported
from shared.crypto import KeyRing
from shared.kit import FakeClock, Inbound
from shared.kit.consumer import DLQ_LIMIT, BatchConsumer, DeadLetters
from shared.kit.health import Health
from shared.kit.inbound import TopicReader
from shared.kit.memory import MemoryBackend, RecordingPublisher
from shared.kit.outcomes import Poison
from shared.kit.ports import RawRecord
from shared.settings import IntakeSettings, Settings
from shared.topics import INBOUND_TOPICS
from tests.support import events

CANARY = events.CANARY_GIVEN
TOPIC = "encounters.reported"


def record(value: bytes | None, offset: int = 0, *, key: bytes | None = b"k",
           headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, key, value, None, len(key or b""), len(value or b""),
                          headers or [])


async def no_wait(seconds: float) -> None:
    return None


def consumer(handler: Any, publisher: RecordingPublisher, **options: Any) -> BatchConsumer:
    letters = DeadLetters("test", publisher, lambda t: f"p.{t}", "casework/test", FakeClock())
    reader = TopicReader(TOPIC, (EncounterReported,), strict_types=TOPIC in INBOUND_TOPICS)
    return BatchConsumer("test", reader, handler, letters, sleep=no_wait, **options)


async def nothing(events_: list[Inbound]) -> list[Poison]:
    return []


def intake_consumer(tmp_path: Any, publisher: RecordingPublisher) -> BatchConsumer:
    """Intake's own subscriber, on the in-memory kit: the real decide, vault and alert."""
    spare = IntakeSettings(dev_keyring_path=tmp_path / "k.json", dev_vault_reader_token_path=tmp_path / "r")
    service = intake.bootstrap(Settings(topic_prefix="u.", intake=spare),
                               keyring=KeyRing({"k": os.urandom(32)}, "k"), backend=MemoryBackend(),
                               publisher=publisher)
    [consume] = [c for c in service.consumers if c.reader.topic == "encounters.reported"]
    return consume


def readable_or_none(consume: BatchConsumer, rec: ConsumerRecord) -> Inbound | None:
    try:
        return consume.reader.read(rec)
    except Exception:
        return None


hostile_text = st.text(st.characters(codec="utf-8"), max_size=60).map(lambda t: f"{t}{CANARY}{t}")
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), hostile_text)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    hostile_text | st.sampled_from(["data", "type", "id", "person", "milestone", "kind"]), inner, max_size=4),
    max_leaves=20)


def shaped_like_an_encounter(extra: dict[str, Any], data_extra: dict[str, Any]) -> bytes:
    event = events.encounter(f"ENC-{abs(hash(json.dumps(extra, default=str))) % 10**9}")
    event |= extra
    event["data"] = event["data"] | data_extra
    return json.dumps(event, default=str).encode()


hostile_value = st.one_of(
    st.binary(max_size=200),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.builds(shaped_like_an_encounter, st.dictionaries(hostile_text, json_value, max_size=3),
              st.dictionaries(hostile_text | st.sampled_from(["region", "agency", "person", "urgent_needs"]),
                              json_value, max_size=3)),
)
hostile_headers = st.lists(st.tuples(hostile_text, st.binary(max_size=40)), max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(hostile_value, st.none() | st.binary(max_size=20), hostile_headers),
                       min_size=1, max_size=6))
async def test_no_input_can_make_intake_raise_or_leak(tmp_path: Any, values: list[Any]) -> None:
    publisher = RecordingPublisher()
    consume = intake_consumer(tmp_path, publisher)
    records = [record(v, i, key=k, headers=h) for i, (v, k, h) in enumerate(values)]
    await consume(records)  # never raises: each record is a case or a dead letter
    readable = {r.offset: event for r in records if (event := readable_or_none(consume, r)) is not None}
    opened = publisher.on("cases.opened")
    assert {json.loads(e["value"])["data"]["encounter_id"] for e in opened} == {
        e.data.encounter_id for e in readable.values()}
    assert {int(letter.headers["x-dlq-source"].rsplit("/", 1)[1]) for letter in publisher.raw} == {
        r.offset for r in records if r.offset not in readable}
    for letter in publisher.raw:
        assert set(letter.headers) >= {"x-dlq-error-type", "x-dlq-error", "x-dlq-source", "x-dlq-attempts"}
        assert CANARY not in letter.headers["x-dlq-error"] + letter.headers["x-dlq-error-type"]
    alerts = publisher.on("intake.events")
    assert len(alerts) == len(publisher.raw)  # every unreadable encounter alerts a supervisor
    assert not [e for e in opened + alerts if CANARY in e["value"]]


async def test_an_alert_that_cannot_be_built_falls_back_to_a_minimal_one() -> None:
    publisher = RecordingPublisher()

    def broken_alert(rec: ConsumerRecord, exc: BaseException) -> list[Any]:
        if not isinstance(exc, Exception) or type(exc).__name__ != "Unreadable":
            raise ValueError("the alert refused its own text")
        return intake.unprocessable(rec, exc, clock=FakeClock())

    await consumer(nothing, publisher, on_invalid=broken_alert)([record(b"{bad")])
    assert len(publisher.raw) == 1
    [alert] = publisher.on("intake.events")
    assert json.loads(alert["value"])["data"]["error_type"] == "Unreadable"


async def test_a_failure_that_escapes_the_handler_is_bounded_then_set_aside() -> None:
    class AlertsBroken(RecordingPublisher):
        async def send(self, entries: Any) -> int:
            raise RuntimeError("a bug only this record's alert meets")

    publisher = AlertsBroken()
    consume = consumer(nothing, publisher, max_attempts=3,
                       on_invalid=lambda rec, exc: intake.unprocessable(rec, exc, clock=FakeClock()))
    for _ in (1, 2):
        with pytest.raises(RuntimeError):
            await consume([record(b"{bad", 4)])
    await consume([record(b"{bad", 4)])  # the third delivery: set aside, the partition goes on
    last = publisher.raw[-1]
    assert last.headers["x-dlq-attempts"] == "3" and last.headers["x-dlq-error-type"] == "RuntimeError"
    assert consume.attempts == {}  # nothing left to count for that offset


async def consumer_call(consume: BatchConsumer, records: list[ConsumerRecord]) -> None:
    await consume(records)


async def test_the_infrastructure_being_away_holds_never_dead_letters() -> None:
    publisher = RecordingPublisher()
    health = Health()
    down = True

    async def needs_the_database(batch: list[Inbound]) -> list[Poison]:
        if down:
            raise KafkaConnectionError("the broker is away")
        return []

    consume = consumer(needs_the_database, publisher, health=health, max_attempts=2)
    good = [record(json.dumps(events.encounter("ENC-held")).encode())]
    for _ in range(4):  # many more than max_attempts: still held, not dead-lettered
        with pytest.raises(KafkaConnectionError):
            await consume(good)
        assert not health.ok and publisher.raw == []
    assert health.report()[TOPIC]["failures_in_a_row"] == 4
    down = False
    await consume(good)
    assert health.ok and publisher.raw == []


async def test_a_dead_letter_too_large_to_copy_goes_as_a_reference() -> None:
    publisher = RecordingPublisher()
    huge = b"x" * (DLQ_LIMIT + 10)
    await consumer(nothing, publisher)([record(huge, 7)])
    [letter] = publisher.raw
    body = json.loads(letter.value)
    assert body["dead_letter"] == "reference" and body["bytes"] == len(huge) and len(body["sha256"]) == 64
    assert letter.headers["x-dlq-reference"] == "true" and letter.headers["x-dlq-source"] == f"{TOPIC}/0/7"


async def test_a_dead_letter_the_broker_refuses_goes_as_a_reference() -> None:
    class Refusing(RecordingPublisher):
        async def send_raw(self, records: Any) -> None:
            if any(r.headers.get("x-dlq-reference") != "true" for r in records):
                raise MessageSizeTooLargeError("the dead-letter topic takes less")
            await super().send_raw(records)

    publisher = Refusing()
    await consumer(nothing, publisher)([record(b"{bad", 1), record(b"[]", 2)])
    assert [json.loads(r.value)["source"] for r in publisher.raw] == [f"{TOPIC}/0/1", f"{TOPIC}/0/2"]


def test_dead_letters_keep_the_original_headers_but_never_forged_ones() -> None:
    letters = DeadLetters("test", RecordingPublisher(), lambda t: t, "casework/test", FakeClock())
    forged = record(b"{bad", headers=[("trace", b"t-1"), ("x-dlq-attempts", b"999")])
    letter = letters.letter(TOPIC, forged, ValueError("x"))
    assert isinstance(letter, RawRecord) and letter.headers["trace"] == "t-1"
    assert letter.headers["x-dlq-attempts"] == "1"
