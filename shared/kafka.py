"""Kafka: the broker factory every service uses, topic provisioning, and reading headers."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code
from aiokafka.helpers import create_ssl_context
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared import logging as caselog
from shared.acls import PRINCIPAL_PREFIX
from shared.contracts.common import IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN
from shared.settings import Settings
from shared.topics import DLQ_HEADROOM, MAX_MESSAGE_BYTES, TopicSpec, spec

log = caselog.get_logger("casework.kafka")


def connection(settings: Settings, principal: str) -> dict[str, Any]:
    """How a direct aiokafka client (consumer, producer, admin) reaches the broker: the
    bootstrap servers and, as configured, TLS and SASL. Every client is built with it.

    ``principal`` is who the client is (a service, a client kind of :data:`shared.topics.CLIENTS`,
    or ``admin``): it picks the client's own credentials in development (one file each under
    ``CASEWORK_KAFKA_CREDENTIALS_DIR``); a production process has one principal, named by
    ``CASEWORK_KAFKA_SASL_USERNAME``, and that one is used whatever is asked.
    """
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                               "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _tls(settings)
    if settings.kafka_security_protocol.startswith("SASL_"):
        username, password = _credentials(settings, principal)
        options |= {"sasl_mechanism": settings.kafka_sasl_mechanism, "sasl_plain_username": username,
                    "sasl_plain_password": password}
    return options


def security(settings: Settings, principal: str) -> BaseSecurity | None:
    """The same, as a FastStream broker takes it (None: PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    tls = _tls(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=tls, use_ssl=True)
    username, password = _credentials(settings, principal)
    mechanisms: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return mechanisms[settings.kafka_sasl_mechanism](username, password, ssl_context=tls, use_ssl=tls is not None)


@functools.cache
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    return context


def _tls(settings: Settings) -> ssl.SSLContext:
    return _tls_context(str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)


def _credentials(settings: Settings, principal: str) -> tuple[str, str]:
    if settings.kafka_sasl_username and settings.kafka_sasl_password:
        return settings.kafka_sasl_username, settings.kafka_sasl_password
    if settings.kafka_credentials_dir and not settings.kafka_sasl_username:
        path = settings.kafka_credentials_dir / f"{PRINCIPAL_PREFIX}{principal}.json"
        try:
            found = json.loads(path.read_text())
            return str(found["sasl_username"]), str(found["sasl_password"])
        except (OSError, ValueError, KeyError):
            raise ValueError(f"no readable credentials for the Kafka principal {principal!r} in "
                             f"CASEWORK_KAFKA_CREDENTIALS_DIR ({path}): run make infra-up") from None
    raise ValueError(f"CASEWORK_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
                     "CASEWORK_KAFKA_SASL_USERNAME and CASEWORK_KAFKA_SASL_PASSWORD")


STOP_SECONDS = 2.0  # a client's graceful close, before its connections are cut


async def stopped(client: Any, seconds: float = STOP_SECONDS) -> None:
    """Stop an aiokafka client, cutting its connections if it takes longer than ``seconds``.

    A client's stop waits for each connection's graceful close, and over TLS that waits for
    the broker's answer to the close (asyncio gives up only after 30 s): the broker reads it only
    once it is done with the request in flight on that connection, and a read to the end was
    seen to wait the full 30 s. Everything a caller needs is done by then (a scan has read
    what it reads, a consumer without a group commits nothing), so the rest may be cut.
    """
    conns = getattr(getattr(client, "_client", client), "_conns", {})
    transports = [c._writer.transport for c in conns.values() if getattr(c, "_writer", None) is not None]
    stopping = asyncio.ensure_future(client.stop())
    done, _ = await asyncio.wait([stopping], timeout=seconds)
    if not done:
        for transport in transports:
            transport.abort()
        await stopping
    else:
        stopping.result()


def make_broker(settings: Settings, client_id: str, *, principal: str) -> KafkaBroker:
    """acks=all with an idempotent producer; offsets committed only after processing."""
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        security=security(settings, principal),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,  # every awaited publish would otherwise wait for it (aiokafka 0.14)
        max_request_size=MAX_MESSAGE_BYTES + DLQ_HEADROOM + 64 * 1024,  # a dead letter, with its headers
        allow_auto_create_topics=False,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        graceful_timeout=10.0,
        logger=caselog.get_logger(f"casework.{client_id}.broker"),
        log_level=logging.DEBUG,  # per-batch "Received"/"Processed" lines only at debug
    )
    caselog.register_broker(broker)
    return broker


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    """A record's headers as text (a byte that is not UTF-8 becomes U+FFFD, no value "")."""
    return {k: (v or b"").decode(errors="replace") for k, v in record.headers or ()}


_CORRELATION = re.compile(IDENTIFIER_PATTERN)


def correlation(*candidates: str | None) -> str | None:
    """The first candidate fit to be a correlation id, which every log line carries: an
    identifier of printable ASCII (a header or attribute may hold anything, a name included)."""
    for value in candidates:
        if value and len(value) <= IDENTIFIER_MAX_LENGTH and _CORRELATION.fullmatch(value):
            return value
    return None


async def parse_batch(records: Sequence[ConsumerRecord],
                      original: Callable[[tuple[ConsumerRecord, ...]], Awaitable[Any]]) -> Any:
    """FastStream's batch parser, lenient with headers: FastStream's decodes every header value
    as UTF-8, so one record with a header that is not (or has no value) failed the whole batch
    before any handler saw it. The records are handed on unchanged; the kit reads each one."""
    records = tuple(records)
    message = await original(tuple(dataclasses.replace(r, headers=[]) for r in records))
    headers = [headers_of(r) for r in records]
    message.raw_message = records
    message.headers = headers[0] if headers else {}
    message.batch_headers = headers
    message.content_type = message.headers.get("content-type")
    message.reply_to = ""  # nothing here answers a message
    message.correlation_id = correlation(message.headers.get("correlation_id")) or message.message_id
    return message


# What aiokafka raises for a record it cannot decode at all: its header names must be UTF-8
# (a Java or aiokafka producer cannot write one that is not, librdkafka and others can).
UNDECODABLE = (UnicodeDecodeError,)
SetAside = Callable[[TopicPartition, int], Awaitable[None]]
FALLBACK_RECORDS = 100
FALLBACK_WAIT_SECONDS = 10.0


async def _one_at_a_time(consumer: Any, tp: TopicPartition, end: int, set_aside: SetAside) -> list[ConsumerRecord]:
    """Up to ``FALLBACK_RECORDS`` of a partition's records, read singly up to its end offset,
    each one the client cannot decode set aside and passed over. A fetch that comes back empty
    before the end (the client has not fetched since the seek) is asked again, for a while."""
    records: list[ConsumerRecord] = []
    deadline = asyncio.get_running_loop().time() + FALLBACK_WAIT_SECONDS
    while len(records) < FALLBACK_RECORDS and await consumer.position(tp) < end:
        try:
            got = await consumer.getmany(tp, timeout_ms=200, max_records=1)
        except UNDECODABLE:
            at = await consumer.position(tp)
            await set_aside(tp, at)
            consumer.seek(tp, at + 1)
            continue
        if not got and asyncio.get_running_loop().time() > deadline:
            break
        records += [r for batch in got.values() for r in batch]
    return records


def tolerant(get_msg: Callable[[Any], Awaitable[tuple[ConsumerRecord, ...]]],
             set_aside: SetAside) -> Callable[[Any], Awaitable[tuple[ConsumerRecord, ...]]]:
    """A batch subscriber's fetch that a record the client cannot decode does not stop.

    aiokafka raises for such a record on every fetch from its offset, and FastStream's consume
    loop ends on that exception: the partition, and every other one of the subscriber, would
    never be read again. Instead the positions go back to where the fetch began and the
    partitions are read again one record at a time (a rare path); each record that cannot be
    decoded is set aside
    (``set_aside`` writes a reference to it) and passed over. A record behind it in the same
    producer batch cannot be decoded either, since the client decodes the batch from its start:
    it is set aside the same way, by reference, and can be read from the topic by other means.
    """
    async def fetch(consumer: Any) -> tuple[ConsumerRecord, ...]:
        started = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        try:
            return await get_msg(consumer)
        except UNDECODABLE:
            log.error("a record cannot be decoded: reading one record at a time")
        for tp, offset in started.items():
            consumer.seek(tp, offset)  # the records fetched with it were never handed on
        records: list[ConsumerRecord] = []
        ends = await consumer.end_offsets(list(started)) if started else {}
        for tp, offset in started.items():
            records += await _one_at_a_time(consumer, tp, ends.get(tp, offset), set_aside)
        return tuple(records)

    return fetch


async def ensure_topics(settings: Settings, names: Iterable[str], *, principal: str) -> list[str]:
    """Create the missing topics with their catalogue settings, and bring those that exist to
    their catalogue retention (idempotent); return those created."""
    hours = settings.intake.inbound_retention_hours
    wanted = {settings.topic(n): spec(n, inbound_retention_hours=hours) for n in names}
    admin = AIOKafkaAdminClient(**connection(settings, principal), client_id=f"casework-{principal}-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        created = await _create(admin, {name: s for name, s in wanted.items() if name not in existing},
                                settings.kafka_replication_factor)
        # Those another process created since they were listed are brought to it as well.
        await _keep_retention(admin, {name: s for name, s in wanted.items() if name not in created})
        return created
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: Mapping[str, TopicSpec], replication: int) -> list[str]:
    """Create these topics; return those created (not those that turned out to exist)."""
    if not topics:
        return []
    response = await admin.create_topics([
        NewTopic(name, s.partitions, replication, topic_configs=s.kafka_config()) for name, s in topics.items()])
    existed = set()
    for topic, code, *rest in response.topic_errors:
        if code and for_code(code) is TopicAlreadyExistsError:
            existed.add(topic)
        elif code:
            raise for_code(code)(f"cannot create topic {topic}: {rest[0] if rest else code}")
    created = [name for name in topics if name not in existed]
    if created:
        log.info("topics created", topics=sorted(created))
    return created


RETENTION = "retention.ms"
# How long a record is kept: its retention, and the segment it waits in to be deleted.
KEPT = (RETENTION, "segment.ms")
TOPIC_OWN = 1  # DescribeConfigs' config_source of a setting made on the topic itself


def own_settings(entries: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A topic's own settings, not the broker's defaults, from its DescribeConfigs entries."""
    return {e["config_names"]: e["config_value"] for e in entries
            if e.get("config_source") == TOPIC_OWN and e["config_value"] is not None}


def with_retention(own: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str] | None:
    """The topic's own settings with the catalogue's retention (and segment age, where it
    states one), or None when it has them already.

    All of them: AlterConfigs replaces a topic's settings as a whole, and one left out would
    fall back to the broker's default (a dead-letter topic would lose its larger message size).
    """
    changes = {name: wanted[name] for name in KEPT if name in wanted and own.get(name) != wanted[name]}
    return {**own, **changes} if changes else None


async def _keep_retention(admin: AIOKafkaAdminClient, topics: Mapping[str, TopicSpec]) -> list[str]:
    """Alter the existing topics whose retention is not the catalogue's (created before it
    changed, or by hand); return those altered."""
    stated = {name: s.kafka_config() for name, s in topics.items() if RETENTION in s.kafka_config()}
    if not stated:
        return []
    amended: dict[str, dict[str, str]] = {}
    for name, entries in (await _described(admin, list(stated))).items():
        changed = with_retention(own_settings(entries), stated[name])
        if changed is not None:
            amended[name] = changed
    if not amended:
        return []
    for response in await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)
                                               for name, configs in amended.items()]):
        for resource in response.to_object()["resources"]:
            _raise_for(resource, f"cannot set the retention of topic {resource['resource_name']}")
    log.info("topic retention brought to the catalogue's", topics=sorted(amended))
    return sorted(amended)


async def _described(admin: AIOKafkaAdminClient, names: list[str],
                     wait_seconds: float = 10.0) -> dict[str, list[dict[str, Any]]]:
    """Each topic's DescribeConfigs entries. A topic another process created a moment ago may
    be listed before the broker describes it (unknown topic): it is asked for again, a while."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    found: dict[str, list[dict[str, Any]]] = {}
    while pending := [n for n in names if n not in found]:
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in pending]):
            for resource in response.to_object()["resources"]:
                if for_code(resource["error_code"]) is UnknownTopicOrPartitionError and loop.time() < deadline:
                    continue
                _raise_for(resource, f"cannot read the settings of topic {resource['resource_name']}")
                found[resource["resource_name"]] = resource["config_entries"]
        if len(found) < len(names):
            await asyncio.sleep(0.2)
    return found


def _raise_for(resource: Mapping[str, Any], what: str) -> None:
    if resource["error_code"]:
        raise for_code(resource["error_code"])(f"{what}: {resource['error_message'] or resource['error_code']}")


async def partitions_of(settings: Settings, topics: list[str], *, principal: str,
                        wait_seconds: float = 30.0) -> list[TopicPartition]:
    """Every partition of these topics, waiting for a topic created a moment ago to be known.

    Right after ``create_topics`` the broker may still describe a new topic as unknown,
    with no partitions; reading it then would silently read nothing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    admin = AIOKafkaAdminClient(**connection(settings, principal), client_id=f"casework-{principal}-admin")
    await admin.start()
    try:
        while True:
            described = await admin.describe_topics(topics)
            missing = set(topics) - {d["topic"] for d in described if d["partitions"] and not d.get("error_code")}
            if not missing:
                return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])
            if loop.time() > deadline:
                raise RuntimeError(f"topics {sorted(missing)} have no partitions after {wait_seconds:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
