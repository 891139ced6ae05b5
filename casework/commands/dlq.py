"""``casework dlq list|replay TOPIC``: inspect and replay a dead-letter topic.

Listing shows where each message came from and why it failed, never its content (an
encounter's dead letter holds PII). Replaying republishes the original message, value,
key and headers unchanged but for the ``x-dlq-*`` ones, to the topic it came from — after
the cause was fixed (a deployment, a roster entry). Replay is safe to repeat: consumers
de-duplicate on event ids.
"""

from __future__ import annotations

import asyncio

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from rich.console import Console
from rich.table import Table

from shared.kafka import connection, headers_of
from shared.settings import Settings
from shared.topics import CATALOGUE, MAX_MESSAGE_BYTES, dlq

console = Console(highlight=False)


async def dead_letters(settings: Settings, topic: str, idle_ms: int = 1500) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(settings.topic(dlq(topic)), **connection(settings),
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        while batch := await consumer.getmany(timeout_ms=idle_ms):
            records += [r for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def replay(settings: Settings, topic: str, records: list[ConsumerRecord]) -> int:
    producer = AIOKafkaProducer(**connection(settings), acks="all", enable_idempotence=True,
                                max_request_size=MAX_MESSAGE_BYTES + 64 * 1024)
    await producer.start()
    try:
        for record in records:
            headers = [(k, v) for k, v in record.headers or () if not k.startswith("x-dlq-")]
            await producer.send_and_wait(settings.topic(topic), record.value, key=record.key, headers=headers)
        return len(records)
    finally:
        await producer.stop()


def _topic(value: str) -> str:
    name = value.removesuffix(".dlq")
    if name not in CATALOGUE:
        raise typer.BadParameter(f"{name!r} is not a casework topic ({', '.join(sorted(CATALOGUE))})")
    return name


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Dead-letter topics: list what failed and why; replay after a fix.",
                        no_args_is_help=True)

    @group.command("list")
    def list_(topic: str = typer.Argument(..., callback=_topic, help="e.g. encounters.reported")) -> None:
        """Each dead letter's source, error type and error (never its content)."""
        records = asyncio.run(dead_letters(Settings(), topic))
        table = Table("dlq offset", "source (topic/partition/offset)", "key", "error type", "error")
        for r in records:
            h = headers_of(r)
            table.add_row(f"{r.partition}/{r.offset}", h.get("x-dlq-source", "?"), (r.key or b"").decode()[:40],
                          h.get("x-dlq-error-type", "?"), h.get("x-dlq-error", "?")[:120])
        console.print(table if records else f"no dead letters on {dlq(topic)}")

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
        console.print(f"[green]replayed[/] {asyncio.run(replay(settings, topic, records))} message(s) to {topic}")

    app.add_typer(group, name="dlq")
