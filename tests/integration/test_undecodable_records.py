"""A record the Kafka client cannot decode (a header name that is not UTF-8) does not stop a consumer.

aiokafka raises on such a record at every fetch from its offset, and FastStream's consume loop
ended on it: the subscriber never read again. Now it is set aside by reference and the
partition goes on.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.intake.app import bootstrap
from shared.kafka import connection, headers_of
from tests.support import events
from tests.support.kafka import Bus, eventually, publish_undecodable


async def test_a_record_with_a_header_name_that_is_not_utf8_is_set_aside_and_the_partition_goes_on(
        settings, bus: Bus) -> None:
    service = bootstrap(settings)
    async with service.app:
        await bus.publish("encounters.reported", events.encounter("ENC-before"), key="same")
        publish_undecodable(settings, "encounters.reported", events.encode(events.encounter("ENC-bad")), "same")
        await bus.publish("encounters.reported", events.encounter("ENC-after"), key="same")
        opened = await bus.events("cases.opened", count=2, timeout=60)
        assert sorted(e["data"]["encounter_id"] for e in opened) == ["ENC-after", "ENC-before"]
        [letter] = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= 1, timeout=60)
        assert service.consuming()
    headers = headers_of(letter)
    assert headers["x-dlq-error-type"] == "UndecodableRecord" and headers["x-dlq-reference"] == "true"
    topic, partition, offset = headers["x-dlq-source"].rsplit("/", 2)
    assert topic == settings.topic("encounters.reported")
    assert b"Zephyrine" not in letter.value  # a reference: where it is, not what it says

    # the offset named is the record that could not be decoded
    reader = AIOKafkaConsumer(**connection(settings, "admin"), group_id=None)
    await reader.start()
    try:
        tp = TopicPartition(topic, int(partition))
        reader.assign([tp])
        reader.seek(tp, int(offset))
        raised = []

        async def fetch() -> bool:
            try:
                await reader.getmany(tp, timeout_ms=500)
            except UnicodeDecodeError:
                raised.append(True)
            return bool(raised)
        await eventually(fetch, timeout=20)
    finally:
        await reader.stop()
