"""Error descriptions that are safe to log and to put in headers: never the input.

A pydantic ``ValidationError`` prints the offending input by default, and its location
names whatever keys the input had; for an encounter either may be a person's name. Every
error that leaves a process (log line, dead-letter header, alert, board) is described
here: the error's *type* and the *schema path* — field names the contract knows, list
positions, and "(unknown field)" for anything else — with a message only where the message
is built from the schema alone. The text is one printable line of bounded length, so it
fits every contract field it is put in.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

MAX_LENGTH = 480
UNKNOWN_FIELD = "(unknown field)"
# Pydantic error types whose message is made from the schema (limits, patterns, expected
# types and values), never from the input. Any other type is reported by its name alone.
SCHEMA_MESSAGES = frozenset({
    "missing", "extra_forbidden", "json_invalid", "json_type", "model_type", "model_attributes_type",
    "dict_type", "list_type", "tuple_type", "set_type", "string_type", "int_type", "int_parsing", "float_type",
    "float_parsing", "bool_type", "bool_parsing", "string_too_short", "string_too_long", "too_short", "too_long",
    "string_pattern_mismatch", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
    "literal_error", "enum", "date_type", "date_parsing", "date_from_datetime_parsing", "datetime_type",
    "datetime_parsing", "datetime_from_date_parsing", "timezone_aware", "union_tag_not_found",
    "int_from_float", "finite_number", "frozen_instance", "no_such_attribute", "recursion_loop",
    "string_unicode", "bytes_type", "url_type", "uuid_type", "is_instance_of",
})
_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class InvalidEvent(ValueError):
    """Input that can never be processed: it goes to the dead-letter topic at once."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@cache
def contract_fields() -> frozenset[str]:
    """Every field name of the contract's models, and the tags of its discriminated unions."""
    from shared import contracts  # late: the contract modules import nothing of this one
    from shared.cloudevents import CloudEvent
    from shared.contracts.common import Contract

    for module in pkgutil.iter_modules(contracts.__path__):
        importlib.import_module(f"{contracts.__name__}.{module.name}")
    found: set[str] = set()
    models: list[type[BaseModel]] = [CloudEvent, *_subclasses(Contract)]
    for model in models:
        _learn(model.model_json_schema(), found)
        tag = getattr(model, "TYPE", None)  # an event type: the tag of a reader over several types
        if isinstance(tag, str):
            found.add(tag)
    return frozenset(found)


def _subclasses(cls: type[BaseModel]) -> Iterable[type[BaseModel]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _learn(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found.update(k for k in value if _FIELD.match(k))
            if key == "const" and isinstance(value, str) and _FIELD.match(value):
                found.add(value)  # a tag: a discriminated union names its branch by it
            _learn(value, found)
    elif isinstance(node, list):
        for item in node:
            _learn(item, found)


def describe(exc: BaseException) -> str:
    """One line naming what was wrong and where, without the values."""
    if isinstance(exc, ValidationError):
        text = _validation(exc)
    elif isinstance(exc, json.JSONDecodeError):
        text = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    elif isinstance(exc, InvalidEvent):
        text = str(exc)
    else:
        text = _infrastructure(exc)
    return one_line(text)


def one_line(text: str) -> str:
    """Printable ASCII on one line, cut to fit any single-line contract field."""
    return _PRINTABLE.sub("?", " ".join(text.split()))[:MAX_LENGTH] or "error"


def kind(exc: BaseException) -> str:
    return one_line(exc.kind if isinstance(exc, InvalidEvent) else type(exc).__qualname__)[:100]


def _validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        where = _path(err["loc"], unknown_last=err["type"] == "extra_forbidden")
        message = f": {err['msg']}" if err["type"] in SCHEMA_MESSAGES else ""
        parts.append(f"{where} [{err['type']}]{message}")
    return f"{exc.error_count()} validation error(s): " + "; ".join(parts)


def _path(loc: tuple[Any, ...], *, unknown_last: bool) -> str:
    names = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            names.append(f"[{part}]")
        elif (unknown_last and index == len(loc) - 1) or part not in contract_fields():
            names.append(UNKNOWN_FIELD)
        else:
            names.append(str(part))
    return ".".join(names).replace(".[", "[") or "(message)"


def _infrastructure(exc: BaseException) -> str:
    """Hosts, ports and codes, never the documents or records a failed call carried."""
    module = type(exc).__module__
    if module.startswith("pymongo"):
        code = getattr(exc, "code", None)
        return f"{type(exc).__name__}" + (f" (code {code})" if code is not None else "")
    if module.startswith("aiosmtplib") and (hasattr(exc, "code") or hasattr(exc, "recipients")):
        # a server's reply: it quotes the recipient's or sender's address, or the refused message
        codes = [getattr(r, "code", "?") for r in getattr(exc, "recipients", None) or [exc]]
        return f"{type(exc).__name__} (code {', '.join(map(str, codes))})"
    if isinstance(exc, OSError | TimeoutError) or module.startswith(("aiokafka", "kafka", "aiosmtplib", "httpx",
                                                                     "httpcore")):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__
