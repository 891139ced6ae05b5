"""Error descriptions that are safe to log and to put in headers: never the input values.

A pydantic ``ValidationError`` prints the offending input by default, which for an
encounter may be a person's name. Everything that reports an error goes through here.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

_MAX = 1000


class InvalidEvent(ValueError):
    """Input that can never be processed: it goes to the dead-letter topic at once."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def describe(exc: BaseException) -> str:
    """One line naming what was wrong and where, without the values."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            where = ".".join(str(p) for p in err["loc"]) or "(message)"
            parts.append(f"{where}: {err['msg']}")
        text = f"{exc.error_count()} validation error(s): " + "; ".join(parts)
    elif isinstance(exc, json.JSONDecodeError):
        text = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    elif isinstance(exc, InvalidEvent):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if _is_safe(exc) else type(exc).__name__
    return text[:_MAX]


def kind(exc: BaseException) -> str:
    return exc.kind if isinstance(exc, InvalidEvent) else type(exc).__qualname__


def _is_safe(exc: BaseException) -> bool:
    """Messages of infrastructure errors carry hosts and codes, not case data."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    module = type(exc).__module__
    return module.startswith(("pymongo", "aiokafka", "kafka", "aiosmtplib", "httpx", "httpcore"))
