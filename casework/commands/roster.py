"""``casework roster load FILE.yaml``: check a roster file, then publish it to ``roster.specialists``.

The file is a list of entries (or a mapping whose ``specialists`` key holds the list).
Each entry is a ``casework.specialist.registered.v1`` payload: ``specialist_id``,
``agency_id``, ``name``, ``email``, ``phone?``, ``webhook_url?``, ``languages``, ``regions``
(``*`` = any), ``role`` (``victim_specialist`` or ``supervisor``), ``on_duty``,
``max_active_cases``. An entry with ``removed: true`` removes the specialist (a null
value on the compacted topic). Every entry is checked before anything is published; a
mistake names the entry and the field, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from aiokafka import AIOKafkaProducer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from shared.cloudevents import CONTENT_TYPE, encode, new_event
from shared.contracts.common import Identifier
from shared.contracts.inbound import SpecialistRegistered
from shared.kafka import ensure_topics
from shared.settings import Settings

console = Console(highlight=False)
SOURCE = "casework/roster"
Entry = tuple[str, SpecialistRegistered | None]  # None: remove this specialist


class RosterError(ValueError):
    """What is wrong with a roster file, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse(text: str) -> list[Entry]:
    """Every entry checked; raises :class:`RosterError` listing each problem with its place."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RosterError([f"not YAML: {exc}"]) from None
    items = document.get("specialists") if isinstance(document, dict) else document
    if not isinstance(items, list) or not items:
        raise RosterError(["expected a list of specialists (or a mapping with a 'specialists' list)"])
    entries, problems, seen = [], [], set()
    for number, item in enumerate(items, start=1):
        try:
            entry = _entry(item)
        except RosterError as exc:
            problems += [f"entry {number}{_named(item)}: {p}" for p in exc.problems]
            continue
        if entry[0] in seen:
            problems.append(f"entry {number}{_named(item)}: specialist_id appears more than once in the file")
        seen.add(entry[0])
        entries.append(entry)
    if problems:
        raise RosterError(problems)
    return entries


def _entry(item: Any) -> Entry:
    if not isinstance(item, dict):
        raise RosterError(["expected a mapping of fields"])
    removed = item.get("removed", False)
    if not isinstance(removed, bool):
        raise RosterError(["field 'removed': must be true or false"])
    try:
        if removed:
            return TypeAdapter(Identifier).validate_python(item.get("specialist_id")), None
        fields = {k: v for k, v in item.items() if k != "removed"}
        # as the consumers will read it: JSON, strict (a quoted "10" is not a number)
        payload = SpecialistRegistered.model_validate_json(json.dumps(fields, default=str))
    except ValidationError as exc:
        raise RosterError([_problem(err) for err in exc.errors(include_url=False, include_input=False)]) from None
    return payload.specialist_id, payload


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "specialist_id"
    return f"field '{where}': {err['msg']}"


def _named(item: Any) -> str:
    name = item.get("specialist_id") if isinstance(item, dict) else None
    return f" ({name!r})" if isinstance(name, str) else ""


async def publish(settings: Settings, entries: list[Entry]) -> None:
    """One registration (or tombstone) per entry, keyed by specialist id, acks=all."""
    await ensure_topics(settings, ["roster.specialists"])
    topic = settings.topic(SpecialistRegistered.TOPIC)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for specialist_id, payload in entries:
            value = None if payload is None else encode(new_event(
                payload, event_id=str(uuid.uuid4()), source=SOURCE, time=datetime.now(UTC)))
            headers = [] if value is None else [("content-type", CONTENT_TYPE.encode())]
            await producer.send_and_wait(topic, value, key=specialist_id.encode(), headers=headers)
    finally:
        await producer.stop()


def register(app: typer.Typer) -> None:
    roster = typer.Typer(help="The roster of victim specialists and supervisors.", no_args_is_help=True)

    @roster.command("load")
    def load(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A roster YAML file")],
             dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file; publish nothing")] = False,
             ) -> None:
        """Check every entry, then publish each to roster.specialists (removed: true removes)."""
        try:
            entries = parse(path.read_text())
        except RosterError as exc:
            console.print(f"[red]{path}: {len(exc.problems)} problem(s); nothing published[/]")
            for problem in exc.problems:
                console.print(f"  {problem}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        removed = sum(1 for _, p in entries if p is None)
        if not dry_run:
            asyncio.run(publish(Settings(), entries))
        verb = "checked" if dry_run else "published"
        console.print(f"{verb} {len(entries) - removed} registration(s) and {removed} removal(s) from {path}")

    app.add_typer(roster, name="roster")
