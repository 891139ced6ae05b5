"""An outside client of casework's broker: an agency's system reporting an encounter.

The broker takes only authenticated clients over TLS (SASL_SSL, SCRAM-SHA-512), and each
kind of client may do what its ACLs allow, nothing else: an agency writes
``encounters.reported`` and reads nothing; a specialist app writes ``referrals.responded``
…; ``casework kafka acls`` lists them all. ``make infra-up`` (and ``make run``) writes each
kind's connection to ``.local/kafka/clients/<kind>.json``; in production the operator gives
you the same six values.

    .venv/bin/python examples/kafka_client.py                       # as the agency
    .venv/bin/python examples/kafka_client.py dashboard_reader      # follow cases.status

aiokafka is the only dependency (any Kafka client takes the same settings).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.helpers import create_ssl_context

HERE = Path(__file__).resolve().parent


def client_options(kind: str) -> dict[str, object]:
    """aiokafka's options from a connection file: bootstrap servers, TLS with the broker's CA, SCRAM."""
    found = json.loads((HERE.parent / ".local" / "kafka" / "clients" / f"{kind}.json").read_text())
    return {"bootstrap_servers": found["bootstrap_servers"], "security_protocol": found["security_protocol"],
            "ssl_context": create_ssl_context(cafile=found["ssl_cafile"]),
            "sasl_mechanism": found["sasl_mechanism"], "sasl_plain_username": found["sasl_username"],
            "sasl_plain_password": found["sasl_password"]}


async def report_an_encounter() -> None:
    template = (HERE / "events" / "encounter.json").read_text()
    event = json.loads(template.replace("${UUID}", str(uuid.uuid4())).replace("${SHORT}", uuid.uuid4().hex[:8].upper()))
    event["time"] = datetime.now(UTC).isoformat()
    producer = AIOKafkaProducer(**client_options("agency"), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait("encounters.reported", json.dumps(event).encode(),
                                     key=event["subject"].encode(),
                                     headers=[("content-type", b"application/cloudevents+json")])
    finally:
        await producer.stop()
    print(f"reported encounter {event['subject']} as casework-agency")


async def follow_case_status() -> None:
    consumer = AIOKafkaConsumer("cases.status", **client_options("dashboard_reader"),
                                group_id="casework.dashboard_reader.example", auto_offset_reset="earliest")
    await consumer.start()
    try:
        async for record in consumer:
            status = json.loads(record.value)["data"]
            print(status["case_id"], status.get("stage"))
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(follow_case_status() if sys.argv[1:] == ["dashboard_reader"] else report_an_encounter())
