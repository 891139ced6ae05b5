"""Loading a registration file onto its compacted topic: the roster, the provider directory.

A file is a list of entries (or a mapping whose list key — ``specialists``, ``providers`` —
holds the list). Each entry is the topic's registration payload; an entry with
``removed: true`` removes its party (a null value on the compacted topic). Every entry is
checked, as the consumers will read it (JSON, strict), before anything is published; a
mistake names the entry and the field, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from aiokafka import AIOKafkaProducer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from shared.cloudevents import CONTENT_TYPE, encode, new_event
from shared.contracts.common import Identifier, Payload
from shared.kafka import connection, ensure_topics
from shared.settings import Settings

console = Console(highlight=False)
Entry = tuple[str, Any]  # (the party's id, its registration payload, or None: remove it)


class RegistrationError(ValueError):
    """What is wrong with a registration file, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Registrations:
    """One kind of registration file: its payload, the id field, the list key, the source."""

    model: type[Payload]
    id_field: str  # specialist_id, provider_id
    list_key: str  # specialists, providers
    source: str  # the CloudEvent source of what the command publishes

    def parse(self, text: str) -> list[Entry]:
        """Every entry checked; raises :class:`RegistrationError` listing each problem with its place."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RegistrationError([f"not YAML: {exc}"]) from None
        items = document.get(self.list_key) if isinstance(document, dict) else document
        if not isinstance(items, list) or not items:
            raise RegistrationError([f"expected a list of {self.list_key} (or a mapping with a "
                                     f"'{self.list_key}' list)"])
        entries, problems, seen = [], [], set()
        for number, item in enumerate(items, start=1):
            try:
                entry = self._entry(item)
            except RegistrationError as exc:
                problems += [f"entry {number}{self._named(item)}: {p}" for p in exc.problems]
                continue
            if entry[0] in seen:
                problems.append(f"entry {number}{self._named(item)}: {self.id_field} appears more than once "
                                "in the file")
            seen.add(entry[0])
            entries.append(entry)
        if problems:
            raise RegistrationError(problems)
        return entries

    def _entry(self, item: Any) -> Entry:
        if not isinstance(item, dict):
            raise RegistrationError(["expected a mapping of fields"])
        removed = item.get("removed", False)
        if not isinstance(removed, bool):
            raise RegistrationError(["field 'removed': must be true or false"])
        try:
            if removed:
                return TypeAdapter(Identifier).validate_python(item.get(self.id_field)), None
            fields = {k: v for k, v in item.items() if k != "removed"}
            # as the consumers will read it: JSON, strict (a quoted "10" is not a number)
            payload = self.model.model_validate_json(json.dumps(fields, default=str))
        except ValidationError as exc:
            raise RegistrationError([self._problem(err) for err in exc.errors(include_url=False,
                                                                               include_input=False)]) from None
        return str(getattr(payload, self.id_field)), payload

    def _problem(self, err: Any) -> str:
        where = ".".join(str(p) for p in err["loc"]) or self.id_field
        return f"field '{where}': {err['msg']}"

    def _named(self, item: Any) -> str:
        name = item.get(self.id_field) if isinstance(item, dict) else None
        return f" ({name!r})" if isinstance(name, str) else ""

    async def publish(self, settings: Settings, entries: list[Entry]) -> None:
        """One registration (or tombstone) per entry, keyed by the party's id, acks=all."""
        await ensure_topics(settings, [self.model.TOPIC], principal="operator")
        topic = settings.topic(self.model.TOPIC)
        producer = AIOKafkaProducer(**connection(settings, "operator"), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for key, payload in entries:
                value = None if payload is None else encode(new_event(
                    payload, event_id=str(uuid.uuid4()), source=self.source, time=datetime.now(UTC)))
                headers = [] if value is None else [("content-type", CONTENT_TYPE.encode())]
                await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
        finally:
            await producer.stop()

    def command(self, group: typer.Typer) -> None:
        """``load FILE.yaml [--dry-run]`` on the group."""
        @group.command("load")
        def load(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A YAML file")],
                 dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file; publish nothing")] = False,
                 ) -> None:
            """Check every entry, then publish each to the topic (removed: true removes)."""
            try:
                entries = self.parse(path.read_text())
            except RegistrationError as exc:
                console.print(f"[red]{path}: {len(exc.problems)} problem(s); nothing published[/]")
                for problem in exc.problems:
                    console.print(f"  {problem}", markup=False, soft_wrap=True)
                raise typer.Exit(1) from None
            removed = sum(1 for _, p in entries if p is None)
            if not dry_run:
                asyncio.run(self.publish(Settings(), entries))
            verb = "checked" if dry_run else "published"
            console.print(f"{verb} {len(entries) - removed} registration(s) and {removed} removal(s) from {path}")
