"""Kafka headers as text (shared.kafka.headers_of): the one decoding readers and dead letters use."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from shared.kafka import headers_of


def record(headers: object) -> ConsumerRecord:
    return ConsumerRecord("t", 0, 0, 0, 0, None, b"{}", None, 0, 2, headers)


def test_headers_become_text() -> None:
    assert headers_of(record([("correlation_id", b"corr-1"), ("trace", "é".encode())])) == {
        "correlation_id": "corr-1", "trace": "é"}


def test_bytes_that_are_not_utf8_are_replaced_not_raised() -> None:
    assert headers_of(record([("x", b"a\xffb")])) == {"x": "a\ufffdb"}


def test_a_record_without_headers_has_none() -> None:
    assert headers_of(record(None)) == {} and headers_of(record([])) == {}
