"""The ACLs on the real broker: every principal by topic by read/write, tried, against the catalogue.

The local broker is SASL_SSL with the StandardAuthorizer (infra/up.sh), and the test's topics
have the catalogue's ACLs (tests/support/acls.py). Each principal signs in with its own
password and tries to write a record to every topic and to read one back; what the broker
lets it do must be exactly what :func:`shared.acls.allowed` says — no more, no less.
"""

from __future__ import annotations

import ssl

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from shared.acls import acls, allowed, principals
from shared.kafka import connection, ensure_topics
from shared.settings import Settings
from shared.topics import CATALOGUE, dlq

TOPICS = sorted([*CATALOGUE, *(dlq(t) for t in CATALOGUE)])
RESTRICTED = ("certifications.events", "certifications.status", "audit.events", "encounters.reported",
              "encounters.reported.dlq")


async def writes(settings: Settings, principal: str) -> dict[str, bool]:
    producer = AIOKafkaProducer(**connection(settings, principal), acks="all", request_timeout_ms=10_000)
    await producer.start()
    done = {}
    try:
        for topic in TOPICS:
            try:
                await producer.send_and_wait(settings.topic(topic), b"{}", key=b"probe", partition=0)
                done[topic] = True
            except TopicAuthorizationFailedError:
                done[topic] = False
    finally:
        await producer.stop()
    return done


async def reads(settings: Settings, principal: str) -> dict[str, bool]:
    """Whether the principal reads the record the admin put on each topic's first partition: a
    topic it may not even see (no ``Describe``) is not read, nor one whose fetch is refused."""
    consumer = AIOKafkaConsumer(**connection(settings, principal), group_id=None, enable_auto_commit=False)
    await consumer.start()
    done = {}
    try:
        visible = await consumer.topics()
        for topic in TOPICS:
            if settings.topic(topic) not in visible:
                done[topic] = False
                continue
            partition = TopicPartition(settings.topic(topic), 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            try:
                got = await consumer.getmany(partition, timeout_ms=10_000)
                done[topic] = bool(got.get(partition))
                assert done[topic], f"{principal} sees {topic} but read nothing from it"
            except TopicAuthorizationFailedError:
                done[topic] = False
    finally:
        await consumer.stop()
    return done


async def test_each_principal_reads_and_writes_exactly_what_the_catalogue_allows(settings: Settings) -> None:
    await ensure_topics(settings, TOPICS, principal="admin")
    assert all(v for v in (await writes(settings, "admin")).values())  # one record on every topic
    rules = acls(settings.topic_prefix)
    table: dict[tuple[str, str, str], bool] = {}
    for principal in principals():
        for topic, done in (await writes(settings, principal)).items():
            table[principal, "Write", topic] = done
        for topic, done in (await reads(settings, principal)).items():
            table[principal, "Read", topic] = done
    expected = {(p, op, t): allowed(rules, p, op, settings.topic(t)) for p, op, t in table}
    assert [k for k in table if table[k] != expected[k]] == []
    assert 0 < sum(table.values()) < len(table) // 2  # mostly refused: least privilege

    # The cases the design names.
    assert not table["referral", "Read", "certifications.events"]
    assert table["agency", "Write", "encounters.reported"] and not table["agency", "Write", "roster.specialists"]
    assert table["specialist_app", "Write", "referrals.responded"]
    assert not any(table["specialist_app", "Read", t] for t in RESTRICTED)
    readers = {t: sorted(p for p in principals() if table[p, "Read", t]) for t in RESTRICTED}
    assert readers == {"certifications.events": ["notify", "operator", "status"],  # certification writes it
                       "certifications.status": ["operator"],
                       "audit.events": ["operator", "status"],
                       "encounters.reported": ["intake", "operator"],
                       "encounters.reported.dlq": ["operator"]}  # intake writes it; an operator replays it


async def test_a_client_without_valid_credentials_is_refused(settings: Settings) -> None:
    await ensure_topics(settings, ["cases.status"], principal="admin")
    plain = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000)
    with pytest.raises((KafkaConnectionError, KafkaError, ssl.SSLError, OSError)):
        await plain.start()  # PLAINTEXT against the TLS listener: no side door
    await plain.stop()
    forged = connection(settings, "dashboard_reader") | {"sasl_plain_password": "not-the-password"}
    impostor = AIOKafkaConsumer(**forged, group_id=None, request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await impostor.start()
    await impostor.stop()


async def test_applying_again_removes_what_the_catalogue_no_longer_grants(settings: Settings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from shared import authorizer
    from shared.acls import Acl

    rules = acls(settings.topic_prefix)
    over = Acl("operator", "topic", settings.topic("referrals.events"), "Write")  # an internal topic: not an operator's
    elsewhere = Acl("operator", "topic", f"x{settings.topic('referrals.events')}", "Write")  # another prefix's
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        await authorizer.create(admin, [over, elsewhere])
        assert authorizer.binding(over) in await authorizer.stale(admin, rules, settings.topic_prefix)
        created, removed = await authorizer.converge(admin, rules, settings.topic_prefix)
        assert (created, removed) == (len(rules), 1)
        assert await authorizer.stale(admin, rules, settings.topic_prefix) == []
        assert await authorizer.delete(admin, [elsewhere]) == 1  # left alone: not under this prefix's names
    finally:
        await admin.close()
