"""Kafka headers as text (shared.kafka.headers_of): the one decoding the batch parser, readers and
dead letters use, whatever bytes a header holds."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka.message import KafkaAckableMessage
from faststream.kafka.parser import AioKafkaBatchParser

from shared.kafka import correlation, headers_of, parse_batch, tolerant


def record(headers: object) -> ConsumerRecord:
    return ConsumerRecord("t", 0, 0, 0, 0, None, b"{}", None, 0, 2, headers)


def test_headers_become_text() -> None:
    assert headers_of(record([("correlation_id", b"corr-1"), ("trace", "é".encode())])) == {
        "correlation_id": "corr-1", "trace": "é"}


def test_bytes_that_are_not_utf8_are_replaced_not_raised() -> None:
    assert headers_of(record([("x", b"a\xffb")])) == {"x": "a\ufffdb"}


def test_a_record_without_headers_has_none() -> None:
    assert headers_of(record(None)) == {} and headers_of(record([])) == {}


def test_a_header_without_a_value_is_empty_text() -> None:
    assert headers_of(record([("traceparent", None), ("x", b"1")])) == {"traceparent": "", "x": "1"}


# The batch parser: FastStream's own decodes every header value as UTF-8, so one record with a
# header that was not (or had no value) failed its whole batch before any handler saw it.

async def parsed(records: list[ConsumerRecord]) -> Any:
    original = AioKafkaBatchParser(msg_class=KafkaAckableMessage, regex=None)
    return await parse_batch(tuple(records), original.parse_batch)


async def test_a_batch_with_headers_that_are_not_utf8_or_have_no_value_is_parsed() -> None:
    hostile = [record([("correlation_id", b"\xff\xfe"), ("trace", None)]), record([("x", b"\xc3\x28")])]
    with pytest.raises((UnicodeDecodeError, AttributeError)):  # what FastStream's parser does with them
        await AioKafkaBatchParser(msg_class=KafkaAckableMessage, regex=None).parse_batch(tuple(hostile))
    message = await parsed(hostile)
    assert message.raw_message == tuple(hostile)  # unchanged: the kit reads and dead-letters each one
    assert message.raw_message[0].headers == [("correlation_id", b"\xff\xfe"), ("trace", None)]
    assert message.batch_headers == [{"correlation_id": "\ufffd\ufffd", "trace": ""}, {"x": "\ufffd("}]


async def test_a_batch_logs_a_correlation_id_only_when_it_is_an_identifier() -> None:
    assert (await parsed([record([("correlation_id", b"corr-1")])])).correlation_id == "corr-1"
    for hostile in ("Ana Maria Lopez", "\u202eabc", "a\x1b[31m", "x" * 129, ""):
        message = await parsed([record([("correlation_id", hostile.encode())])])
        assert message.correlation_id == message.message_id != hostile


def test_only_an_identifier_is_a_correlation_id() -> None:
    assert correlation("corr-1") == "corr-1"
    assert correlation("Ana Maria", "\u200bid", None, "x" * 129, "ok:1") == "ok:1"
    assert correlation("Ana Maria", "\u202eid") is None


class Client:
    """A consumer of two partitions, one holding a record the client cannot decode (offset 2)."""

    def __init__(self, *, lagging: bool = False) -> None:
        self.tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
        self.logs = {tp: [record([])] * 5 for tp in self.tps}
        self.at = dict.fromkeys(self.tps, 0)
        self.bad = (self.tps[1], 2)
        self.lagging = lagging  # as the real client: the first fetches after a seek come back empty
        self.sought: dict[TopicPartition, int] = {}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) for tp in tps}

    def assignment(self) -> set[TopicPartition]:
        return set(self.tps)

    async def position(self, tp: TopicPartition) -> int:
        return self.at[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp] = offset
        if self.lagging:
            self.sought[tp] = 2

    async def getmany(self, *tps: TopicPartition, timeout_ms: int = 0, max_records: int = 10) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        if any(self.sought.get(tp, 0) for tp in tps):
            for tp in tps:
                self.sought[tp] = max(0, self.sought.get(tp, 0) - 1)
            return out
        for tp in tps or self.tps:
            while self.at[tp] < len(self.logs[tp]) and sum(map(len, out.values())) < max_records:
                if (tp, self.at[tp]) == self.bad:
                    raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")  # drained ones lost
                out.setdefault(tp, []).append(dataclasses.replace(self.logs[tp][self.at[tp]], partition=tp.partition,
                                                                  offset=self.at[tp]))
                self.at[tp] += 1
        return out


@pytest.mark.parametrize("lagging", [False, True])
async def test_a_record_the_client_cannot_decode_is_set_aside_and_nothing_else_is_lost(lagging: bool) -> None:
    """``lagging``: empty fetches after each seek (the real client's way) must not end the
    one-at-a-time reading before the record is found (it did: the partition was stuck)."""
    client, aside = Client(lagging=lagging), []

    async def get_msg(consumer: Client) -> tuple[ConsumerRecord, ...]:
        return tuple(r for rs in (await consumer.getmany(max_records=100)).values() for r in rs)

    async def set_aside(tp: TopicPartition, offset: int) -> None:
        aside.append((tp.partition, offset))

    fetch = tolerant(get_msg, set_aside)
    read = [(r.partition, r.offset) for _ in range(3) for r in await fetch(client)]
    assert aside == [(1, 2)]
    assert sorted(read) == [(p, o) for p in (0, 1) for o in range(5) if (p, o) != (1, 2)]
