"""Kafka headers as text (shared.kafka.headers_of): the one decoding the batch parser, readers and
dead letters use, whatever bytes a header holds."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka.message import KafkaAckableMessage
from faststream.kafka.parser import AioKafkaBatchParser

from shared.kafka import correlation, headers_of, parse_batch


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
