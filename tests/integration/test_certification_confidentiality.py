"""P1 (8 U.S.C. 1367): a T or U visa case shows on no topic but the restricted ones, and in no
log line, while Continued Presence may go on to the general case status.

The service runs on the real broker with T, U and CP requests, records, a rejection, a
reminder and an expiry. Then every topic of the system is read: only the restricted
topics (the certification streams and the agencies' certification requests and records)
and their dead letters may name a T or U certification.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.certification.app import bootstrap
from shared.kafka import connection
from shared.kit import FakeClock
from shared.settings import Settings
from shared.topics import CATALOGUE, INBOUND_TOPICS, RESTRICTED_TOPICS, dlq
from tests.support import events
from tests.support.certification import applied
from tests.support.kafka import Bus, eventually

START = datetime(2026, 8, 31, 12, 0, tzinfo=UTC)
T_CASE, T_CERT = "case-tq7x", "cert-tq7x"
U_CASE, U_CERT = "case-uz4k", "cert-uz4k"
SECRETS = (T_CASE, T_CERT, U_CASE, U_CERT, "t_visa", "u_visa")


async def test_t_and_u_visas_reach_only_restricted_topics_and_no_log(settings, bus: Bus, mongo, logs) -> None:
    clock = FakeClock(START)
    service = bootstrap(settings, clock=clock)
    # The restricted outbound topics certification owns (audit.events is the dashboard's and intake's).
    produced = {settings.topic(t) for t in RESTRICTED_TOPICS - INBOUND_TOPICS if t.startswith("certifications.")}
    assert {p.topic for p in service.broker.publishers} == produced
    async with service.app:
        for event in (events.certification_requested(T_CASE, T_CERT, "t_visa_declaration"),
                      events.certification_requested(U_CASE, U_CERT, "u_visa_certification"),
                      events.certification_requested("case-cp", "cert-cp", "continued_presence",
                                                     agency_level="local")):
            await bus.publish("certifications.requested", event)
        unreadable = events.certification_requested(U_CASE, "cert-uz4k-2", "u_visa_certification",
                                                    officer_id="not an id!")
        await bus.publish("certifications.requested", unreadable)  # dead-lettered, logged
        orphan = events.certification_recorded(U_CASE, "cert-uz4k-unknown", "submitted", START)
        for event in (events.certification_recorded(T_CASE, T_CERT, "signed", START, signed_by=events.SIGNATORY),
                      events.certification_recorded(U_CASE, U_CERT, "signed", START,
                                                    signed_by=events.SIGNATORY | {"capacity": "other"}),
                      events.certification_recorded(U_CASE, U_CERT, "signed", START, signed_by=events.SIGNATORY),
                      orphan):
            await bus.publish("certifications.recorded", event)
        assert await bus.events("certifications.status", count=1, where=lambda e: e["subject"] == U_CASE
                                and e["data"]["certifications"][0]["status"] == "signed")
        await eventually(lambda: applied(mongo, settings, U_CASE, orphan))
        clock.set(datetime(2027, 3, 1, tzinfo=UTC))  # 30 and 7 day reminders, expiry, the orphan
        assert await bus.events("certifications.events", count=1, where=lambda e: e["type"].endswith("expired.v1"))
        assert await bus.events("certifications.events", count=1,
                         where=lambda e: e["data"].get("reason") == "unknown_certification")
        assert await bus.read("certifications.requested.dlq", until=lambda records: len(records) == 1)
    await bus.ensure(*CATALOGUE, *(dlq(name) for name in CATALOGUE))  # every topic of the system
    by_topic = await read_everything(settings)
    # Restricted: the certification topics, the agencies' requests and records, and their dead letters.
    general = {t: recs for t, recs in by_topic.items() if t.removesuffix(".dlq") not in RESTRICTED_TOPICS}
    assert len(general) >= 20  # the scan covers every general topic and its dead letters
    leaks = {t: {s for s in SECRETS for r in recs if s in text(r)} for t, recs in general.items()}
    assert {t: found for t, found in leaks.items() if found} == {}
    restricted = " ".join(text(r) for t in RESTRICTED_TOPICS for r in by_topic[t])
    assert all(secret in restricted for secret in SECRETS)  # the scan would have seen them

    output = logs.getvalue()
    assert "dead-lettered" in output and '"level": "debug"' in output  # logs were captured
    leaked = [line for line in output.splitlines() if any(s in line for s in SECRETS)]
    assert leaked == []


def text(record: ConsumerRecord) -> str:
    headers = json.dumps([(k, v.decode(errors="replace")) for k, v in record.headers or ()])
    return f"{(record.key or b'').decode(errors='replace')} {(record.value or b'').decode(errors='replace')} {headers}"


async def read_everything(settings: Settings) -> dict[str, list[ConsumerRecord]]:
    """Every record on every topic of this test's deployment, by contract topic name."""
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**connection(settings, "admin"), enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in names for p in await _partitions(consumer, t)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: dict[str, list[ConsumerRecord]] = {t.removeprefix(settings.topic_prefix): [] for t in names}
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for tp, recs in (await consumer.getmany(timeout_ms=500)).items():
                found[tp.topic.removeprefix(settings.topic_prefix)] += recs
        return found
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    partitions = consumer.partitions_for_topic(topic)
    while partitions is None:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    return partitions
