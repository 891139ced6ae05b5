"""No input value leaks into an error text: a canary put anywhere in a record never reaches one.

Every error that leaves a process — a log line, a dead letter's ``x-dlq-*`` headers, the
"encounter unprocessable" alert on ``intake.events`` (and so the supervisors' board) —
names the error's type and the contract's path only (:mod:`shared.errors`). Here a valid
event of every type on every topic a service reads (``tests.support.hostile``: the inbound
topics' templates; ``tests.support.internal``: the internal types) gets a canary — a
person's name from ``tests.support.events.CANARIES`` or a made-up ``Zq…`` one, with or
without spaces, other scripts, bidirectional or control characters — in one position:

* the value of any field at any depth (envelope or data), bare or as a list or an object
  (a tag, an id, an unknown key), and as a new element of any array;
* the name (and value) of an unknown field in any object, or an existing field renamed to it;
* an envelope attribute (``type``, ``source``, ``subject``, ``id``, ``time``,
  ``datacontenttype``, ``specversion``, ``dataschema``, ``correlationid``);
* a Kafka header's name or value, the record's key;
* the value made non-JSON around it (bare, unquoted inside the event, truncated after it,
  not UTF-8, nested past every depth limit).

The record then goes through what every service that reads the topic does with it: its own
``TopicReader``, the kit's ``BatchConsumer`` floor and dead-letter builder (on a
``RecordingPublisher``), alone or in a batch with a valid record, with a handler that accepts
it, poisons it or raises with an error built from the input (a message and a pydantic error
that hold it); intake's own ``unprocessable`` alert builder for ``encounters.reported``; and
the real consumers of the services that run on the in-memory kit (intake, stabilization,
certification). Captured: every log line (structlog and stdlib, at DEBUG), every dead
letter's ``x-dlq-*`` headers (and a reference's body), every alert. None may hold the
canary, in any case, nor any of its words, nor its one-line printable form (what
:func:`shared.errors.one_line` makes of it). The alert is then folded by the status service
and shown to a supervisor (board page, board API, live feed): the same holds there. And an
SMTP server's reply (notify's ``NotificationFailed.error``) is described without the address
or the words it quotes.

What is not checked, by design:

* the dead letter's value, key and the original's own headers: a dead letter *is* the
  original record (its other headers are checked to be exactly the original's); dead-letter
  topics are restricted;
* ids echoed by design. The alert carries the encounter's ``encounter_id`` (also its
  CloudEvent ``subject``), ``agency.id`` and ``region`` when the contract would accept them
  as an identifier (a region) — that is how a supervisor finds the encounter. When the
  record's hint at one of those three places holds the canary and is such a valid id (the
  canary put there, or inserted into the id's text), that alert field may hold it; no other.
  Likewise, when some id position of the record (a field named ``id`` or ``*_id``,
  ``subject``, ``correlationid``, the ``correlation_id`` header) holds the canary as (part
  of) a valid identifier, the log fields that carry ids (the ``SAFE_FIELDS`` ending in
  ``_id``, ``subject``, ``aggregate``: an aggregate's id is made of ids) may hold it; no
  other log field. A canary that is not a valid id is
  checked everywhere: as ``Zephyrine Quillfeather`` (a space) it is no identifier.

``CASEWORK_FUZZ_EXAMPLES`` sets the number of examples (1,000; ``make fuzz`` runs 20,000).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from pydantic import TypeAdapter

from services.certification import app as certification
from services.intake import app as intake
from services.stabilization import app as stabilization
from shared import logging as caselog
from shared.contracts.common import IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN, REGION_PATTERN
from shared.crypto import KeyRing
from shared.errors import one_line
from shared.kafka import headers_of
from shared.kit import FakeClock, Inbound
from shared.kit.consumer import BatchConsumer, DeadLetters
from shared.kit.memory import MemoryBackend, RecordingPublisher
from shared.kit.outcomes import Poison
from shared.settings import IntakeSettings, Settings, StabilizationSettings
from tests.support import events
from tests.support.hostile import HOSTILE_ONLY, INBOUND_TYPES, INTERNAL_TYPES, TOPICS, Fuzz
from tests.support.internal import valid_event
from tests.support.readers import readers

EXAMPLES = int(os.environ.get("CASEWORK_FUZZ_EXAMPLES", "1000"))
ATTRIBUTES = ("type", "source", "subject", "id", "time", "datacontenttype", "specversion", "dataschema",
              "correlationid")
ID_LOG_FIELDS = frozenset(f for f in caselog.SAFE_FIELDS if f.endswith("_id")) | {"subject", "aggregate"}
ALERT_HINTS = {"encounter_id": ("data", "encounter_id"), "agency_id": ("data", "agency", "id"),
               "region": ("data", "region")}
_ID = re.compile(IDENTIFIER_PATTERN)
_REGION = re.compile(REGION_PATTERN)
_WORD = re.compile(r"[A-Za-z0-9]{6,}")
_MADE_UP_WORD = re.compile(r"Zq[A-Za-z]{5,}")

Path_ = tuple[str | int, ...]


# -- the canary and where it may legitimately be echoed --------------------------------------

def is_identifier(value: str) -> bool:
    return len(value) <= IDENTIFIER_MAX_LENGTH and _ID.fullmatch(value) is not None


def signatures(canary: str) -> set[str]:
    """What would give the canary away, in any case: itself, its one-line form, its made-up word
    (``Zq…``) or a name's words (a made-up canary's second word is any letters: "Messag" is no sign)."""
    words = _WORD.findall(canary) if canary in events.CANARIES else _MADE_UP_WORD.findall(canary)
    found = {canary.lower(), *(w.lower() for w in words)}
    printable = one_line(canary)
    if len(printable) >= 6:
        found.add(printable.lower())
    return found


def leaks(canary: str, text: str) -> bool:
    low = text.lower()
    return any(s in low for s in signatures(canary))


DECORATION = st.sampled_from(["", " ", "  ", "\u202e", "\u200b", "\ufeff", "\x00", "\x1b[31m", "\n", "\r\n", "\t",
                              "\x7f", "\x07", "é", "Ñ", "名前", "\U0001f600", "'", '"', "\\", "{", "$"])
WORD = st.text(st.sampled_from(string.ascii_letters), min_size=5, max_size=10)
MADE_UP = st.builds(
    lambda pre, core, second, post: f"{pre}Zq{core}{second}{post}",
    DECORATION | st.text(st.characters(codec="utf-8"), max_size=3), WORD,
    st.just("") | WORD.map(lambda w: f" {w.capitalize()}") | WORD.map(lambda w: f"\u200b{w}"),
    DECORATION | st.text(st.characters(codec="utf-8"), max_size=3))
CANARY = st.sampled_from(events.CANARIES) | MADE_UP


# -- the records ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    """A record with the canary in one position (``where``: which, for the statistics and a failure)."""

    topic: str
    record: ConsumerRecord
    canary: str
    where: str


WITHDRAWN = "casework.encounter.withdrawn.v1"  # on encounters.reported too: the agency takes its report back


@cache
def base_event(topic: str, type_: str | None) -> dict[str, Any]:
    if type_ == WITHDRAWN:  # of an encounter never reported here: intake's decide refuses it
        return events.withdrawal("ENC-never-reported", event_id="ev-withdrawal-1") | {"time": "2026-11-30T08:15:00Z"}
    if topic in INBOUND_TYPES or topic in HOSTILE_ONLY:
        return Fuzz(0).template(topic)
    return valid_event(type_ or INTERNAL_TYPES[topic][0])


def paths(node: Any, at: Path_ = ()) -> Iterator[Path_]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*at, index))


def get(node: Any, at: Path_) -> Any:
    for part in at:
        node = node[part]
    return node


def put(event: Any, at: Path_, value: Any) -> Any:
    if not at:
        return value
    get(event, at[:-1])[at[-1]] = value
    return event


def parsed(record: ConsumerRecord) -> Any:
    try:
        return json.loads(record.value or b"")
    except (ValueError, RecursionError):
        return None


def echoed(placed_: Placed) -> tuple[frozenset[str], bool]:
    """Where the canary may be echoed by design (see the module's docstring): the alert fields
    whose hint holds it as a valid id (or region), and whether it is (in) a valid id at all."""
    event, canary = parsed(placed_.record), placed_.canary
    alert: set[str] = set()
    for name, at in ALERT_HINTS.items():
        try:
            hint = get(event, at)
        except (KeyError, IndexError, TypeError):
            continue
        valid = _REGION.fullmatch(hint) if name == "region" and isinstance(hint, str) else (
            isinstance(hint, str) and is_identifier(hint))
        if valid and leaks(canary, hint):
            alert |= {name, "subject"} if name == "encounter_id" else {name}  # the alert's subject is its encounter
    ids = [get(event, at) for at in paths(event) if at and is_id_position(at)]
    ids += [v for k, v in headers_of(placed_.record).items() if k == "correlation_id"]
    in_id = any(isinstance(v, str) and is_identifier(v) and leaks(canary, v) for v in ids)
    return frozenset(alert), in_id


def is_id_position(at: Path_) -> bool:
    names = [p for p in at if isinstance(p, str)]
    leaf = names[-1] if names else ""
    return leaf == "id" or leaf.endswith("_id") or at in {("subject",), ("correlationid",)}


PLACEHOLDER = "@@CANARY@@"


@st.composite
def placed(draw: st.DrawFn, topics: tuple[str, ...] = TOPICS) -> Placed:
    topic = draw(st.sampled_from((*topics, *("encounters.reported",) * (len(topics) // 3))))  # the alert's topic
    type_ = draw(st.sampled_from(INTERNAL_TYPES.get(topic) or {"encounters.reported": (None, WITHDRAWN)}.get(
        topic, (None,))))
    event = copy.deepcopy(base_event(topic, type_))
    canary = draw(CANARY)
    key: bytes | None = (event.get("subject") or event["id"]).encode()
    headers: list[tuple[str, bytes | None]] = [("content-type", b"application/cloudevents+json")]
    value: bytes | None = None
    where = draw(st.sampled_from(["value", "array", "unknown", "rename", "attribute", "header", "key", "non-json"]))
    every = list(paths(event))
    if where == "value":
        at = draw(st.sampled_from(every))
        shape = draw(st.sampled_from(["bare", "bare", "bare", "list", "object", "tag", "id"]))
        put(event, at, {"bare": canary, "list": [canary], "object": {canary: canary}, "tag": {"kind": canary},
                        "id": {"id": canary}}[shape])
        where = f"value:{shape}"
    elif where == "array":
        arrays = [p for p in every if isinstance(get(event, p), list)] or [("data", "extra")]
        at = draw(st.sampled_from(arrays))
        if at == ("data", "extra"):
            event["data"]["extra"] = []
        items = get(event, at)
        items.insert(draw(st.integers(0, len(items))), canary)
    elif where in ("unknown", "rename"):
        objects = [p for p in every if isinstance(get(event, p), dict)]
        # half the time an object of scalars: a mapping field's keys (``screening.categories``) are
        # input that a pydantic error's location names
        flat = [p for p in objects if not any(isinstance(v, dict | list) for v in get(event, p).values())]
        at = draw(st.sampled_from(objects) | st.sampled_from(flat or objects))
        holder = get(event, at)
        name = draw(st.sampled_from([canary, f"{canary}_id", canary.lower(), canary.strip() or canary]))
        if where == "rename" and holder:
            old = draw(st.sampled_from(sorted(holder)))
            holder[name] = holder.pop(old)
        else:
            holder[name] = draw(st.sampled_from([canary, [canary], {"kind": canary}, 7]))
    elif where == "attribute":
        attribute = draw(st.sampled_from(ATTRIBUTES))
        event[attribute] = draw(st.sampled_from([canary, f"casework.{canary}", f"agency/{canary}",
                                                 f"{canary}/json", f"2026-11-30T08:15:00 {canary}"]))
        where = f"attribute:{attribute}"
    elif where == "header":
        name = draw(st.sampled_from([canary, "correlation_id", "x-dlq-error", "x-dlq-error-type", "X-DLQ-Error",
                                     "traceparent", "ce_id", "content-type"]))
        raw = draw(st.sampled_from([canary.encode(), canary.encode("utf-16"), b"\xff" + canary.encode(), None]))
        headers.append((name, raw))
    elif where == "key":
        key = draw(st.sampled_from([canary.encode(), canary.encode("utf-16"),
                                    b"\xff\xfe" + canary.encode("latin-1", "replace")]))
        if draw(st.booleans()):  # a tombstone: a registration topic's readers take its key as the subject
            value = b""
    if where == "non-json":
        at = draw(st.sampled_from(every))
        text = json.dumps(put(event, at, PLACEHOLDER) if at else {"data": PLACEHOLDER}, ensure_ascii=False)
        quoted = json.dumps(PLACEHOLDER)
        how = draw(st.sampled_from(["bare", "unquoted", "truncated", "not-utf8", "deep", "inserted"]))
        encoded = canary.encode()
        if how == "bare":
            value = encoded
        elif how == "unquoted":
            value = text.replace(quoted, canary).encode()
        elif how == "truncated":
            value = text[:text.index(quoted) + 1].encode() + encoded
        elif how == "not-utf8":
            value = text.encode().replace(PLACEHOLDER.encode(), b"\xff" + canary.encode("utf-16-le"))
        elif how == "deep":
            depth = draw(st.sampled_from([200, 5000]))
            value = text.replace(quoted, "[" * depth + json.dumps(canary) + "]" * depth).encode()
        else:
            body = json.dumps(base_event(topic, type_)).encode()
            spot = draw(st.integers(0, len(body)))
            value = body[:spot] + encoded + body[spot:]
        where = f"non-json:{how}"
    if value is None:
        value = json.dumps(event, ensure_ascii=draw(st.booleans())).encode()
    offset = draw(st.integers(0, 2**40))
    record = ConsumerRecord(topic, 0, offset, 0, 0, key, value or None, None, len(key or b""), len(value), headers)
    return Placed(topic, record, canary, where)


# -- the consumers -------------------------------------------------------------------------

async def no_wait(_: float) -> None:
    return None


@dataclass
class Probe:
    """A handler whose failure is chosen per example, its error built from the input."""

    mode: str = "accept"
    error: str = "message"

    def fault(self, event: Inbound) -> Exception:
        data = event.data.model_dump(mode="json") if hasattr(event.data, "model_dump") else {"data": event.data}
        if self.error == "pydantic":  # a handler's own model refusing what it got: keys and values are input
            try:
                TypeAdapter(dict[str, int]).validate_python({**data, **event.extensions,
                                                             str(event.subject): event.subject})
            except Exception as exc:
                return exc
        if self.error == "key":
            return KeyError(str(event.subject))
        return ValueError(f"cannot use {data!r} from {event.source!r} ({event.extensions!r})")

    async def __call__(self, batch: list[Inbound]) -> list[Poison]:
        if self.mode == "poison":
            return [Poison(e, self.fault(e)) for e in batch]
        if self.mode == "raise" and batch:
            raise self.fault(batch[0])
        return []


@dataclass
class Consumers:
    """Every consumer of every topic, each dead-lettering onto its own recording publisher."""

    probe: Probe = field(default_factory=Probe)
    by_topic: dict[str, list[tuple[BatchConsumer, RecordingPublisher]]] = field(default_factory=dict)

    def add(self, consumer: BatchConsumer, publisher: RecordingPublisher) -> None:
        self.by_topic.setdefault(consumer.reader.topic, []).append((consumer, publisher))


@cache
def consumers() -> Consumers:
    made = Consumers()
    clock = FakeClock()
    for topic, pairs in readers().items():
        for name, reader in pairs:
            publisher = RecordingPublisher()
            letters = DeadLetters(name, publisher, lambda t: f"u.{t}", f"casework/{name}", clock)
            on_invalid = None
            if (name, topic) == ("intake", "encounters.reported"):
                def on_invalid(record: ConsumerRecord, exc: BaseException) -> Any:
                    return intake.unprocessable(record, exc, clock=clock)
            made.add(BatchConsumer(name, reader, made.probe, letters, on_invalid, max_attempts=2, sleep=no_wait),
                     publisher)
    spare = Path(tempfile.mkdtemp(prefix="casework-canary-"))
    # no gathering: each example's batch is written at once
    settings = Settings(topic_prefix="u.", intake=IntakeSettings(dev_keyring_path=spare / "keyring.json",
                                                                 dev_vault_reader_token_path=spare / "reader",
                                                                 holder_gather_seconds=0),
                        stabilization=StabilizationSettings(plan_gather_seconds=0))
    keyring = KeyRing({"k": os.urandom(32)}, "k")
    for build, extra in ((intake.bootstrap, {"keyring": keyring}), (stabilization.bootstrap, {}),
                         (certification.bootstrap, {})):
        publisher = RecordingPublisher()
        service = build(settings, clock=FakeClock(), backend=MemoryBackend(), publisher=publisher, **extra)
        for consumer in service.consumers:
            made.add(BatchConsumer(consumer.service, consumer.reader, consumer.handler, consumer.dead_letters,
                                   consumer.on_invalid, max_attempts=consumer.max_attempts, sleep=no_wait),
                     publisher)
    return made


@dataclass
class Seen:
    """What left the consumers: log lines, dead letters, alerts."""

    logs: list[dict[str, Any]]
    letters: list[Any]
    alerts: list[dict[str, Any]]
    batch: list[ConsumerRecord]


def companion(placed_: Placed) -> ConsumerRecord:
    """A valid record of the same topic, read in the same batch just after the canary's."""
    record = placed_.record
    value = json.dumps(base_event(placed_.topic, None)).encode()
    return ConsumerRecord(record.topic, 0, record.offset + 1, 0, 0, b"k", value, None, 1, len(value), [])


async def feed(placed_: Placed, mode: str, error: str, batched: bool = False) -> Seen:
    made = consumers()
    made.probe.mode, made.probe.error = mode, error
    stream = io.StringIO()
    caselog.configure("DEBUG", stream=stream)
    letters, alerts = [], []
    batch = [placed_.record, companion(placed_)] if batched else [placed_.record]
    for consumer, publisher in made.by_topic[placed_.topic]:
        publisher.sent.clear()
        publisher.raw.clear()
        for _ in range(consumer.max_attempts + 1):
            try:
                await consumer(batch)
                break
            except Exception:  # nacked: read again, as the broker would redeliver it
                continue
        else:
            raise AssertionError(f"{consumer.service} never settled the record")
        letters += publisher.raw
        alerts += [json.loads(e["value"]) for e in publisher.sent if e["topic"] == "intake.events"]
    logs = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return Seen(logs, letters, alerts, batch)


def strings(node: Any, at: str = "") -> Iterator[tuple[str, str]]:
    """Every key and string value, with the name of the field it is in."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), str(key)
            yield from strings(value, str(key))
    elif isinstance(node, list):
        for item in node:
            yield from strings(item, at)
    elif node is not None:
        yield at, str(node)


def assert_no_leak(placed_: Placed, seen: Seen) -> None:
    canary = placed_.canary
    alert_echo, id_echo = echoed(placed_)
    originals = {f"{r.topic}/{r.partition}/{r.offset}": {k: v for k, v in headers_of(r).items()
                                                         if not k.lower().startswith("x-dlq-")} for r in seen.batch}
    for letter in seen.letters:
        for name, value in letter.headers.items():
            if name.lower().startswith("x-dlq-"):  # a producer's own X-DLQ-* is not copied
                assert not leaks(canary, value), (placed_.where, name, value)
        if letter.headers.get("x-dlq-reference") == "true":
            assert not leaks(canary, letter.value.decode()), (placed_.where, letter.value)
        else:
            original = originals[letter.headers["x-dlq-source"]]
            assert {k: v for k, v in letter.headers.items() if not k.startswith("x-dlq-")} == original
    for alert in seen.alerts:
        for name, value in strings(alert):
            if name not in alert_echo:
                assert not leaks(canary, value), (placed_.where, name, value, alert)
    if seen.letters:  # the capture works: each dead letter is logged
        assert sum(line.get("event") == "dead-lettered" for line in seen.logs) >= len(seen.letters)
    for line in seen.logs:
        for name, value in strings(line):
            if not (id_echo and name in ID_LOG_FIELDS):
                assert not leaks(canary, value), (placed_.where, name, value, line)


MODES = st.sampled_from(["accept", "poison", "raise"])
ERRORS = st.sampled_from(["message", "key", "pydantic"])


def _example(topic: str, value: dict[str, Any] | bytes, canary: str = events.CANARY_GIVEN,
             where: str = "example") -> Placed:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Placed(topic, ConsumerRecord(topic, 0, 1, 0, 0, b"k", raw, None, 1, len(raw), []), canary, where)


def regression(topic: str, value: dict[str, Any] | bytes, canary: str = events.CANARY_GIVEN, *,
               where: str) -> Any:
    """An ``@example`` of the property: a record that once leaked, or a position that could."""
    return example(placed_=_example(topic, value, canary, where), mode="accept", error="message", batched=False)


def _categories(categories: dict[str, Any]) -> dict[str, Any]:
    """A mapping field's key: the location of its error names the key."""
    event = copy.deepcopy(base_event("cases.opened", "casework.case.opened.v1"))
    event["data"]["screening"]["categories"] = categories
    return event


def _milestone_kind(kind: str) -> dict[str, Any]:
    """The earlier leak: a milestone whose ``kind`` (a tagged union's tag) was a person's name."""
    event = copy.deepcopy(base_event("stabilization.recorded", None))
    event["data"]["milestone"]["kind"] = kind
    return event


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
@given(placed_=placed(), mode=MODES, error=ERRORS, batched=st.booleans())
@regression("stabilization.recorded", _milestone_kind(events.CANARY_GIVEN),  # the earlier leak: a tag's value
            where="milestone kind")
@regression("cases.opened", _categories({events.CANARY_FAMILY: "three"}), events.CANARY_FAMILY, where="mapping key")
@regression("encounters.reported", base_event("encounters.reported", None) | {"type": events.CANARY_NARRATIVE},
            events.CANARY_NARRATIVE, where="envelope tag")
@regression("referrals.events", base_event("referrals.events", None) | {
    "data": base_event("referrals.events", None)["data"] | {events.CANARY_ALIAS: 1}}, events.CANARY_ALIAS,
    where="unknown field")
@regression("encounters.reported", base_event("encounters.reported", WITHDRAWN) | {  # a CloudEvent id is any text:
    "id": f"{events.CANARY_GIVEN} {events.CANARY_FAMILY}"}, where="event id")  # logged when decide refused it
async def test_a_canary_anywhere_in_a_record_reaches_no_log_line_dead_letter_header_or_alert(
        placed_: Placed, mode: str, error: str, batched: bool) -> None:
    note_event(placed_.where.split(":")[0])
    seen = await feed(placed_, mode, error, batched)
    note_event("dead-lettered" if seen.letters else "not dead-lettered")
    note_event("alerted" if seen.alerts else "no alert")
    assert_no_leak(placed_, seen)


def test_every_internal_type_has_a_valid_event_to_start_from() -> None:
    """The property starts from valid events: each is read as valid by some reader of its topic."""
    from tests.support.readers import outcome

    for topic, types in INTERNAL_TYPES.items():
        for type_ in types:
            value = json.dumps(base_event(topic, type_)).encode()
            record = ConsumerRecord(topic, 0, 0, 0, 0, None, value, None, 0, len(value), [])
            assert "valid" in {outcome(r, record) for _, r in readers()[topic]}, type_
    for topic in (*INBOUND_TYPES, *HOSTILE_ONLY):
        value = json.dumps(base_event(topic, None)).encode()
        record = ConsumerRecord(topic, 0, 0, 0, 0, None, value, None, 0, len(value), [])
        assert {outcome(r, record) for _, r in readers()[topic]} == {"valid"}, topic


# -- the supervisors' board ----------------------------------------------------------------

class AlertDocs:
    """The status service's ``alerts`` collection, holding what a test puts in it."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    def find(self, *_: Any) -> AlertDocs:
        return self

    def __aiter__(self) -> Iterator[dict[str, Any]]:
        return self._each()

    async def _each(self) -> Any:
        for doc in self.docs:
            yield doc


@dataclass
class Board:
    """The real dashboard app, in-process, with a supervisor's token (as ``test_status_auth``)."""

    app: Any
    alerts: AlertDocs
    broadcaster: Any
    supervisor: Any
    token: str


@cache
def board() -> Board:
    import httpx

    from services.status.access import Role, Tokens, new_token
    from services.status.board import Board as CaseBoard
    from services.status.feed import Broadcaster
    from services.status.identity import IdentityReader
    from services.status.sessions import Lifetimes, MemorySessionStore
    from services.status.views import Views
    from services.status.web.app import create_dashboard
    from shared.settings import StatusSettings

    clock = FakeClock()
    token, supervisor = new_token("sup", Role.SUPERVISOR, ["*"], None)
    settings = Settings(status=StatusSettings(dashboard_tokens="[]"))
    service = type("StatusService", (), {"name": "status", "settings": settings, "publisher": RecordingPublisher(),
                                          "source": "casework/status", "clock": clock})()
    views = Views(CaseBoard(), clock, 90)
    broadcaster = Broadcaster(views)
    docs = AlertDocs()
    app = create_dashboard(service, tokens=Tokens([supervisor]), views=views, broadcaster=broadcaster, feed=None,
                           cases=None, alerts=docs, sessions=MemorySessionStore(clock, Lifetimes.of(1800, 43200)),
                           trail=None, identity=IdentityReader("http://127.0.0.1:9", "unit", httpx.AsyncClient()))
    return Board(app, docs, broadcaster, supervisor, token)


def unreadable_encounters() -> st.SearchStrategy[Placed]:
    return placed(("encounters.reported",))


@settings(max_examples=max(50, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placed_=unreadable_encounters())
@example(placed_=_example("encounters.reported", base_event("encounters.reported", None) | {
    "type": events.CANARY_GIVEN}, where="envelope tag"))
async def test_an_alert_from_a_hostile_record_shows_on_the_board_without_the_canary(placed_: Placed) -> None:
    """intake's alert for the record, folded by the status service and shown to a supervisor on
    the board page, the board API and the live feed: never the canary (but the ids echoed by
    design, as above)."""
    import html

    import httpx

    from services.status import alerts as status_alerts
    from shared.cloudevents import encode, new_event

    [(_, reader)] = [(n, r) for n, r in readers()["intake.events"] if n == "status"]
    [(_, intake_reader)] = readers()["encounters.reported"]
    try:
        intake_reader.read(placed_.record)
        return  # readable: no alert to show
    except Exception as exc:
        built = intake.unprocessable(placed_.record, exc, clock=FakeClock())
    if not built:
        return  # a withdrawal: dead-lettered only
    note_event("alerted")
    [payload] = built
    value = encode(new_event(payload, event_id="ev-alert", source="casework/intake", time=FakeClock().now()))
    inbound = reader.read(ConsumerRecord("intake.events", 0, 0, 0, 0, None, value, None, 0, len(value), []))
    alert, _ = status_alerts.decide(None, inbound, FakeClock().now())
    made = board()
    made.alerts.docs[:] = [{"state": alert.model_dump(mode="json")}]
    stream = made.broadcaster.subscribe(made.supervisor)
    try:
        made.broadcaster.alert(alert)
        live = stream.queue.get_nowait()
    finally:
        made.broadcaster.unsubscribe(stream)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app), base_url="http://127.0.0.1:8080",
                                 headers={"Authorization": f"Bearer {made.token}"}) as client:
        page = await client.get("/")
        api = await client.get("/api/board")
    assert page.status_code == 200 and api.status_code == 200, (page.status_code, api.status_code)
    assert api.json()["alerts"] == [alert.card()] and page.text.count('<li><time datetime="') == 1  # it is shown
    alert_echo, _ = echoed(placed_)
    shown = [v for k, v in strings(alert.card()) if k in alert_echo]  # echoed by design: taken out
    text = html.unescape(page.text)
    for echo in sorted(shown, key=len, reverse=True):
        text = text.replace(echo, "")
    assert not leaks(placed_.canary, text), (placed_.where, alert)
    for name, found in [*strings(api.json()), *strings(json.loads(live["data"]))]:
        if name not in alert_echo:
            assert not leaks(placed_.canary, found), (placed_.where, name, found)


# -- the infrastructure's errors -----------------------------------------------------------

def _smtp_errors(canary: str, code: int) -> list[BaseException]:
    """What an SMTP server answers, as aiosmtplib raises it: its reply quotes the recipient's
    address (an officer's from the encounter, a specialist's from the roster) or the message."""
    import aiosmtplib

    address = f"{canary}@example.org"
    refused = aiosmtplib.SMTPRecipientRefused(code, f"5.1.1 <{address}>: Recipient address rejected", address)
    return [refused, aiosmtplib.SMTPRecipientsRefused([refused]),
            aiosmtplib.SMTPDataError(code, f"content rejected: {canary}"),
            aiosmtplib.SMTPSenderRefused(code, f"<{address}> sender rejected", address),
            aiosmtplib.SMTPResponseException(code, canary)]


@settings(max_examples=max(50, EXAMPLES // 10), deadline=None)
@given(canary=CANARY, code=st.integers(400, 599))
@example(canary=events.CANARY_EMAIL.split("@")[0], code=550)
def test_an_smtp_servers_reply_is_described_by_its_code_not_its_words(canary: str, code: int) -> None:
    """notify puts the description in a NotificationFailed (``notifications.events``) and its logs."""
    from shared.errors import describe, kind

    for exc in _smtp_errors(canary, code):
        text = describe(exc)
        assert not leaks(canary, text) and not leaks(canary, kind(exc)), text
        assert str(code) in text and type(exc).__name__ in text, text
