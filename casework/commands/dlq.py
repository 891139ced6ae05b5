"""``casework dlq list|replay TOPIC``: inspect and replay a dead-letter topic.

Listing shows where each dead letter came from and why it failed, never what it holds (an
encounter's dead letter holds the person's identity): its place on the dead-letter topic,
when it was written, its size and SHA-256, the source and attempts, the ``x-dlq-*`` error
type and text (built without input values: :mod:`shared.errors`), and the event's ``type``
and ``id`` only when the value is JSON and they are identifiers. Not its key, nor any other
header: those are the sender's and may hold anything.

``--reveal --operator NAME`` prints the content too (key, headers, value) for an operator who
must see it, once that look is on ``audit.events`` (``dlq.revealed``, role ``operator``, via
``casework_cli``) and acknowledged by the broker; when it cannot be recorded nothing is
printed and the command fails. The name is required, not taken from ``$USER``: an account on
a shared host or in a container (``root``, ``app``) names nobody.

Replaying republishes the original message, value, key and headers unchanged but for the
``x-dlq-*`` ones, to the topic it came from — after the cause was fixed (a deployment, a
roster entry). Replay is safe to repeat: consumers de-duplicate on event ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import TopicAuthorizationFailedError
from rich.console import Console

from shared.audit import AuditTrail, as_identifier
from shared.contracts.audit import AuditAction, AuditOutcome, AuditRecorded, AuditRole
from shared.errors import kind, one_line
from shared.kafka import connection, headers_of, make_broker, stopped
from shared.kit.clock import SystemClock
from shared.kit.outbox import KafkaPublisher
from shared.settings import Settings
from shared.topics import CATALOGUE, MAX_MESSAGE_BYTES, dlq

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

SOURCE = "casework/cli"
VIA = "casework_cli"
AUDIT_SECONDS = 15.0  # the broker acknowledges the record within this, or nothing is shown
_SOURCE = re.compile(r"^[A-Za-z0-9._-]{1,249}/[0-9]{1,10}/[0-9]{1,19}$")  # topic/partition/offset
_COUNT = re.compile(r"^[0-9]{1,6}$")
# Control characters but line feed and tab, as a revealed value shows them (no terminal escapes).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


async def dead_letters(settings: Settings, topic: str, idle_ms: int = 1500) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(settings.topic(dlq(topic)), **connection(settings, "operator"),
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        while batch := await consumer.getmany(timeout_ms=idle_ms):
            records += [r for recs in batch.values() for r in recs]
    finally:
        await stopped(consumer)
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def replay(settings: Settings, topic: str, records: list[ConsumerRecord]) -> int:
    producer = AIOKafkaProducer(**connection(settings, "operator"), acks="all", enable_idempotence=True,
                                max_request_size=MAX_MESSAGE_BYTES + 64 * 1024)
    await producer.start()
    try:
        for record in records:
            headers = [(k, v) for k, v in record.headers or () if not k.lower().startswith("x-dlq-")]
            await producer.send_and_wait(settings.topic(topic), record.value, key=record.key, headers=headers)
        return len(records)
    finally:
        await producer.stop()


# -- what a listing shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A dead letter as listed: nothing in it comes from the input but the event's ids,
    and those only when they are identifiers."""

    place: str  # topic partition/offset of the dead letter
    written: str
    size: int
    sha256: str
    source: str  # the original's topic/partition/offset, "?" when the header is not one
    attempts: str
    reference: bool  # the original was too large to copy: this points at it
    error_type: str
    error: str
    event_type: str | None
    event_id: str | None


def summary(record: ConsumerRecord) -> Summary:
    value = record.value or b""
    headers = headers_of(record)
    event_type, event_id = event_ids(value)
    return Summary(place=f"{record.topic} {record.partition}/{record.offset}", written=written(record.timestamp),
                   size=len(value), sha256=hashlib.sha256(value).hexdigest(),
                   source=_matching(_SOURCE, headers.get("x-dlq-source")),
                   attempts=_matching(_COUNT, headers.get("x-dlq-attempts")),
                   reference=headers.get("x-dlq-reference") == "true",
                   error_type=one_line(headers.get("x-dlq-error-type", "?"))[:100],
                   error=one_line(headers.get("x-dlq-error", "?")), event_type=event_type, event_id=event_id)


def event_ids(value: bytes) -> tuple[str | None, str | None]:
    """The event's ``type`` and ``id`` when the value is a JSON object and each is an identifier."""
    try:
        event = json.loads(value)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8); nested past the parser's depth
        return None, None
    if not isinstance(event, dict):
        return None, None
    return _identifier(event.get("type")), _identifier(event.get("id"))


def _identifier(value: object) -> str | None:
    return as_identifier(value) if isinstance(value, str) else None


def written(timestamp_ms: int | None) -> str:
    if timestamp_ms is None or timestamp_ms < 0:
        return "?"
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _matching(pattern: re.Pattern[str], value: str | None) -> str:
    return value if value is not None and pattern.fullmatch(value) else "?"


def summary_lines(letter: Summary) -> list[str]:
    event = f"{letter.event_type or '?'} id {letter.event_id or '?'}"
    return [f"{letter.place}  {letter.written}  {letter.size} bytes  sha256 {letter.sha256}",
            f"  from     {letter.source} (attempts {letter.attempts})"
            + (", a reference to the original" if letter.reference else ""),
            f"  error    {letter.error_type}: {letter.error}",
            f"  event    {event}"]


def content_lines(record: ConsumerRecord) -> list[str]:
    """What ``--reveal`` adds: the key, every header and the value, control characters escaped."""
    lines = [f"  key      {shown(record.key)}"]
    lines += [f"  header   {shown(name.encode())}: {shown(value)}" for name, value in record.headers or ()]
    lines.append(f"  value    {shown(record.value)}")
    return lines


def shown(raw: bytes | None) -> str:
    """Bytes as text an operator's terminal prints as they are (no escape sequence acts)."""
    if raw is None:
        return "(none)"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", raw.decode(errors="replace"))


# -- the audited look -------------------------------------------------------------------


async def record_reveal(settings: Settings, operator: str) -> AuditRecorded:
    """``dlq.revealed`` by ``operator`` on ``audit.events``, acknowledged by the broker.

    The topic is not created here: an operator may write it, not create or configure it
    (:mod:`shared.acls`); the services that write it create it at start.
    """
    broker = make_broker(settings, "casework-cli", principal="operator")
    try:
        await broker.start()
        trail = AuditTrail(KafkaPublisher(broker, settings), source=SOURCE,
                           clock=SystemClock(timedelta(seconds=settings.clock_offset_seconds)))
        return await trail.record(actor_id=operator, role=AuditRole.OPERATOR, action=AuditAction.DLQ_REVEALED,
                                  outcome=AuditOutcome.GRANTED, via=VIA)
    finally:
        await broker.stop()


def recorded(settings: Settings, operator: str) -> AuditRecorded:
    """The look on record, or exit 1 having shown nothing (no record, no content)."""
    try:
        return asyncio.run(asyncio.wait_for(record_reveal(settings, operator), AUDIT_SECONDS))
    except Exception as exc:
        errors.print(f"[red]the look could not be recorded on audit.events ({kind(exc)}); nothing is shown[/]",
                     soft_wrap=True)
        raise typer.Exit(1) from None


def _topic(value: str) -> str:
    name = value.removesuffix(".dlq")
    if name not in CATALOGUE:
        raise typer.BadParameter(f"{name!r} is not a casework topic ({', '.join(sorted(CATALOGUE))})")
    return name


def _operator(value: str | None) -> str | None:
    if value is not None and as_identifier(value) is None:
        raise typer.BadParameter("an identifier (letters, digits and . _ : @ / -), as the audit trail names actors")
    return value


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Dead-letter topics: list what failed and why; replay after a fix.",
                        no_args_is_help=True)

    @group.command("list")
    def list_(topic: str = typer.Argument(..., callback=_topic, help="e.g. encounters.reported"),
              reveal: bool = typer.Option(False, "--reveal", help="also print each key, header and value "
                                          "(recorded on audit.events first; needs --operator)"),
              operator: str | None = typer.Option(None, "--operator", metavar="NAME", callback=_operator,
                                                  help="who looks, as the audit trail names them")) -> None:
        """Each dead letter's place, time, size, digest, source and error; never its content
        unless --reveal (audited)."""
        if reveal and operator is None:
            errors.print("[red]--reveal needs --operator NAME[/]: the look is recorded on audit.events",
                         soft_wrap=True)
            raise typer.Exit(2)
        settings = Settings()
        records = asyncio.run(dead_letters(settings, topic))
        if reveal and operator is not None:
            recorded(settings, operator)
        if not records:
            console.print(f"no dead letters on {dlq(topic)}")
            return
        for record in records:
            lines = summary_lines(summary(record)) + (content_lines(record) if reveal else [])
            for line in lines:
                console.print(line, markup=False, emoji=False, soft_wrap=True)

    @group.command("replay")
    def replay_(topic: str = typer.Argument(..., callback=_topic),
                source: list[str] = typer.Option([], "--source", help="only these x-dlq-source values"),
                yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
        """Republish dead letters to the topic they came from."""
        settings = Settings()
        records = [r for r in asyncio.run(dead_letters(settings, topic))
                   if not source or headers_of(r).get("x-dlq-source") in source]
        if not records:
            console.print("nothing to replay")
            return
        if not yes:
            typer.confirm(f"replay {len(records)} message(s) to {topic}?", abort=True)
        try:
            replayed = asyncio.run(replay(settings, topic, records))
        except TopicAuthorizationFailedError:
            console.print(f"[red]the broker refuses to let the operator write {topic}[/]: only its own service "
                          f"writes an internal topic (casework kafka acls); fix the cause and let that service "
                          f"read its input again instead")
            raise typer.Exit(1) from None
        console.print(f"[green]replayed[/] {replayed} message(s) to {topic}")

    app.add_typer(group, name="dlq")

