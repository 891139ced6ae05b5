"""structlog JSON logs carrying the correlation id, with anything not known to be safe
removed before rendering.

Redaction is an allowlist: a field is rendered only if its name is in :data:`SAFE_FIELDS`
(ids, codes, counts, times — what casework's own log lines carry, and what the kit's
processors and FastStream add); any other field keeps its name and loses its value, so a
new field that could carry input shows as ``[redacted]`` until someone decides it is safe
(``tests/unit/test_logging.py`` fails on a log call whose field is not in the list).
Exceptions are rendered without their input values (see :mod:`shared.errors`). The stdlib
loggers of aiokafka, pymongo and FastStream go through the same processors.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import structlog

from shared.errors import describe

REDACTED = "[redacted]"
# What the processors and the libraries add to every line.
META_FIELDS = frozenset({"event", "level", "timestamp", "logger", "correlation_id", "error", "error_type", "stack",
                         "topic", "group_id", "message_id"})
# What casework's own log calls name: ids matching the contract's patterns, codes from its
# vocabularies, counts and durations. Never a field that can carry a person's words.
SAFE_FIELDS = META_FIELDS | frozenset({
    "actor_id", "aggregate", "attempt", "attempts", "audit_id", "case_id", "cases", "channel", "client", "delivery",
    "differing", "environment", "escalations", "event_id", "event_type", "events", "hold", "hook", "identical", "job",
    "max_attempts", "notification_id", "offset", "ops_port", "outcome", "outcomes", "partition", "pause_seconds",
    "provider_id", "reason", "records", "referral_id", "refusal", "rejection", "response", "role", "scope",
    "scopes", "seconds", "service", "service_request_id", "source", "specialist_id", "status", "subject", "topics",
    "type", "via", "viewer", "why",
})

_brokers: list[Any] = []


def register_broker(broker: Any) -> None:
    """Per-message ids live in each broker's context, not in the app's (FastStream 0.7)."""
    if broker not in _brokers:
        _brokers.append(broker)


def faststream_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    extra = event.pop("extra", None) or {}
    event.update({k: v for k, v in extra.items() if v})
    for broker in _brokers:
        msg = broker.context.get_local("message")
        if msg is not None:
            if msg.correlation_id:
                event.setdefault("correlation_id", msg.correlation_id)
            for key, value in (broker.context.get_local("log_context") or {}).items():
                if value:
                    event.setdefault(key, value)
            break
    return event


def redact_pii(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Every field not known to be safe keeps its name and loses its value."""
    for key in event.keys() - SAFE_FIELDS:
        if key != "exc_info" and not key.startswith("_"):  # structlog's own (the stdlib record)
            event[key] = REDACTED
    return event


def safe_exceptions(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Render ``exc_info`` as frames plus a value-free description of the error."""
    exc_info = event.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        elif isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        _, exc, tb = exc_info
        if exc is not None:
            event["error"] = describe(exc)
            event["error_type"] = type(exc).__qualname__
            frames = traceback.extract_tb(tb)[-8:]
            event["stack"] = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in frames]
    return event


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        faststream_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_pii,
        safe_exceptions,
    ]


def configure(level: str = "INFO", *, stream: Any = None) -> None:
    """JSON lines on stdout (or ``stream``), for structlog and the stdlib loggers alike."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    out = stream or sys.stdout
    structlog.configure(
        processors=[*_processors(), structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_processors()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer()],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("aiokafka", "pymongo", "kafka"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
