"""``casework publish FILE.json``: how an agency integrator tries the system.

The file holds one CloudEvent. It is validated against the v1 contract of its ``type``
first; a mistake is reported with the path of the field (``data.person.languages``) and
nothing is published. A valid event goes to its topic, keyed by its subject.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import typer
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError
from rich.console import Console

from shared.cloudevents import CONTENT_TYPE, reader
from shared.contracts.inbound import INBOUND
from shared.kafka import connection
from shared.settings import Settings

console = Console(highlight=False)
BY_TYPE = {p.TYPE: p for p in INBOUND}


def check(raw: bytes) -> tuple[str, str, bytes]:
    """``(topic, key, value)`` for a valid inbound event; raises ``typer.Exit`` otherwise."""
    try:
        kind = json.loads(raw).get("type")
    except (ValueError, AttributeError):
        console.print("[red]not a JSON object[/]: a CloudEvent in structured JSON mode is expected")
        raise typer.Exit(2) from None
    payload = BY_TYPE.get(kind)
    if payload is None:
        console.print(f"[red]unknown type[/] {kind!r}; inbound types are:")
        for name, p in sorted(BY_TYPE.items()):
            console.print(f"  {name}  → topic {p.TOPIC}")
        raise typer.Exit(2)
    try:
        event = reader(payload).validate_json(raw)
    except ValidationError as exc:
        console.print(f"[red]{exc.error_count()} problem(s)[/] in this {kind} event:")
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err["loc"]) or "(event)"
            console.print(f"  [bold]{where}[/]: {err['msg']}")
        raise typer.Exit(1) from None
    return payload.TOPIC, event.data.subject, raw


def fill(text: str, case_id: str | None, referral_id: str | None, encounter_id: str | None = None,
         service_request_id: str | None = None, consent_id: str | None = None) -> bytes:
    """Fill the example files' placeholders: a fresh id per publish, and the case's ids."""
    short = uuid.uuid4().hex[:8]
    values = {"${UUID}": str(uuid.uuid4()), "${SHORT}": short,
              "${CASE_ID}": case_id or os.environ.get("CASE_ID") or None,
              "${REFERRAL_ID}": referral_id or os.environ.get("REFERRAL_ID") or None,
              "${ENCOUNTER_ID}": encounter_id or os.environ.get("ENCOUNTER_ID") or None,
              "${SERVICE_REQUEST_ID}": service_request_id or os.environ.get("SERVICE_REQUEST_ID") or None,
              "${CONSENT_ID}": consent_id or os.environ.get("CONSENT_ID") or None}
    for placeholder, value in values.items():
        if placeholder in text:
            if value is None:
                name = placeholder.strip("${}").lower().removesuffix("_id").replace("_", "-")
                console.print(f"[red]this file needs[/] --{name} (it contains {placeholder})")
                raise typer.Exit(2)
            text = text.replace(placeholder, value)
    return text.encode()


async def send(settings: Settings, items: list[tuple[str, str, bytes]]) -> list[str]:
    producer = AIOKafkaProducer(**connection(settings, "operator"), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = []
        for topic, key, value in items:
            meta = await producer.send_and_wait(settings.topic(topic), value, key=key.encode(),
                                                headers=[("content-type", CONTENT_TYPE.encode())])
            sent.append(f"{topic} partition {meta.partition} offset {meta.offset} key {key}")
        return sent
    finally:
        await producer.stop()


def register(app: typer.Typer) -> None:
    @app.command()
    def publish(files: list[Path] = typer.Argument(..., help="CloudEvent JSON files (examples/events/)", exists=True,
                                                   dir_okay=False, readable=True),
                case: str | None = typer.Option(None, "--case", help="fills ${CASE_ID} (also $CASE_ID)"),
                referral: str | None = typer.Option(None, "--referral", help="fills ${REFERRAL_ID}"),
                encounter: str | None = typer.Option(None, "--encounter", help="fills ${ENCOUNTER_ID}"),
                service_request: str | None = typer.Option(None, "--service-request",
                                                           help="fills ${SERVICE_REQUEST_ID}"),
                consent: str | None = typer.Option(None, "--consent", help="fills ${CONSENT_ID}"),
                dry_run: bool = typer.Option(False, "--dry-run", help="validate only")) -> None:
        """Validate events against the v1 contract and publish them to their topics.

        Placeholders in the files are filled: ${UUID} (a fresh event id), ${SHORT},
        ${CASE_ID} (--case), ${REFERRAL_ID} (--referral), ${ENCOUNTER_ID} (--encounter),
        ${SERVICE_REQUEST_ID} (--service-request) and ${CONSENT_ID} (--consent).
        """
        items = [check(fill(path.read_text(), case, referral, encounter, service_request, consent))
                 for path in files]
        if dry_run:
            console.print(f"[green]valid[/]: {len(items)} event(s)")
            return
        for line in asyncio.run(send(Settings(), items)):
            console.print(f"[green]published[/] {line}")
