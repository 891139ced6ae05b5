"""On the real broker: once intake has started, ``encounters.reported`` and its dead-letter
topic keep records ``CASEWORK_INBOUND_RETENTION_HOURS``, a topic created earlier with another
retention included, its other settings untouched; starting again changes nothing."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.intake.app import bootstrap as intake
from shared.kafka import connection, ensure_topics, own_settings
from shared.settings import Settings
from shared.topics import DLQ_HEADROOM, DLQ_RETENTION_MS, HOUR_MS, MAX_MESSAGE_BYTES
from tests.support.kafka import Bus, eventually

ENCOUNTERS, LETTERS = "encounters.reported", "encounters.reported.dlq"
WEEK_MS = 7 * 24 * HOUR_MS


async def own(settings: Settings, *names: str) -> dict[str, dict[str, str]]:
    """Each topic's own settings, as the broker describes them (once it knows every topic)."""
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()

    async def described() -> list[dict] | None:
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topic(n))
                                                 for n in names])
        resources = answer.to_object()["resources"]
        return None if any(r["error_code"] for r in resources) else resources

    try:
        resources = await eventually(described, timeout=10)
    finally:
        await admin.close()
    found = {r["resource_name"]: own_settings(r["config_entries"]) for r in resources}
    return {name: found[settings.topic(name)] for name in names}


async def create(settings: Settings, name: str, partitions: int, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic(name), partitions, 1, topic_configs=configs)])
    finally:
        await admin.close()


async def settled(settings: Settings, expected: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The topics' own settings once they are as expected, or as they are after a while: the
    broker describes an alteration a moment after its controller has taken it."""
    deadline = time.monotonic() + 10
    while (found := await own(settings, *expected)) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return found


def kept(hours: int, **own: str) -> dict[str, str]:
    return {"retention.ms": str(hours * 3_600_000), "segment.ms": str(3_600_000)} | own


async def test_intake_brings_the_topics_that_hold_identity_to_the_configured_retention(settings, bus: Bus,
                                                                                       logs) -> None:
    # Created before the setting existed: kept a week, with a message size of its own.
    await create(settings, ENCOUNTERS, 3, {"retention.ms": str(WEEK_MS), "max.message.bytes": str(2 * 1024 * 1024)})
    five_hours = settings.amended(intake={"inbound_retention_hours": 5})
    async with intake(five_hours).app:
        pass
    expected = {ENCOUNTERS: kept(5, **{"max.message.bytes": str(2 * 1024 * 1024)}),  # its own size kept
                LETTERS: kept(5, **{"max.message.bytes": str(MAX_MESSAGE_BYTES + DLQ_HEADROOM)})}  # created so
    assert await settled(settings, expected) == expected
    assert "topic retention brought to the catalogue's" in logs.getvalue()

    logs.seek(0)
    logs.truncate()
    async with intake(five_hours).app:  # again: nothing to change
        pass
    assert await own(settings, ENCOUNTERS, LETTERS) == expected
    assert "topic retention brought" not in logs.getvalue() and "topics created" not in logs.getvalue()

    async with intake(settings).app:  # the default, 72 hours
        pass
    expected = {name: own | kept(72) for name, own in expected.items()}
    assert await settled(settings, expected) == expected


async def test_a_dead_letter_topic_created_with_the_old_thirty_days_is_brought_to_it(settings, bus: Bus) -> None:
    await create(settings, LETTERS, 1, {"retention.ms": str(DLQ_RETENTION_MS),
                                        "max.message.bytes": str(MAX_MESSAGE_BYTES + DLQ_HEADROOM)})
    await create(settings, "referrals.responded.dlq", 1, {"retention.ms": str(WEEK_MS)})
    created = await ensure_topics(settings, [ENCOUNTERS, LETTERS, "referrals.responded.dlq"], principal="admin")
    assert created == [settings.topic(ENCOUNTERS)]
    expected = {ENCOUNTERS: kept(72, **{"max.message.bytes": str(MAX_MESSAGE_BYTES)}),
                LETTERS: kept(72, **{"max.message.bytes": str(MAX_MESSAGE_BYTES + DLQ_HEADROOM)}),
                # Any other dead-letter topic keeps the catalogue's thirty days, brought to it likewise.
                "referrals.responded.dlq": {"retention.ms": str(DLQ_RETENTION_MS)}}
    assert await settled(settings, expected) == expected
