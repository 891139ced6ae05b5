"""Log redaction: identity never reaches a log line, whatever the code logs."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

from pydantic import ValidationError

from shared import logging as caselog
from shared.cloudevents import reader
from shared.contracts.inbound import EncounterReported
from tests.support import events

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "bind", "msg"}


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_pii_fields_are_redacted(logs) -> None:
    log = caselog.get_logger("test")
    log.info("encounter", given_name=events.CANARY_GIVEN, person={"phone": events.CANARY_PHONE},
             narrative=events.CANARY_NARRATIVE, case_id="case-1")
    [line] = lines(logs)
    assert line["case_id"] == "case-1" and line["given_name"] == caselog.REDACTED
    assert not [c for c in events.CANARIES if c in logs.getvalue()]


def test_validation_errors_are_logged_without_input_values(logs) -> None:
    bad = events.encounter()
    bad["data"]["person"]["given_name"] = events.CANARY_GIVEN + "\x1b[31m"
    try:
        reader(EncounterReported).validate_json(events.encode(bad))
    except ValidationError as exc:
        caselog.get_logger("test").error("rejected", exc_info=exc)
        logging.getLogger("stdlib").exception("stdlib path", exc_info=exc)
    output = logs.getvalue()
    assert "data.person.given_name" in output
    assert events.CANARY_GIVEN not in output and "Zephyrine" not in output


def test_log_lines_are_json_with_level_and_timestamp(logs) -> None:
    caselog.get_logger("test").warning("something", case_id="case-9")
    [line] = lines(logs)
    assert line["level"] == "warning" and line["event"] == "something" and "timestamp" in line


def test_a_field_not_known_to_be_safe_keeps_its_name_and_loses_its_value(logs) -> None:
    caselog.get_logger("test").info("something", case_id="case-1", officer_note=events.CANARY_NARRATIVE,
                                    anything_new={"deep": [events.CANARY_PHONE]})
    logging.getLogger("stdlib").warning("third party", extra={"body": events.CANARY_GIVEN})
    first, second = lines(logs)
    assert first["officer_note"] == first["anything_new"] == caselog.REDACTED and first["case_id"] == "case-1"
    assert second.get("body", caselog.REDACTED) == caselog.REDACTED and second["event"] == "third party"
    assert not [c for c in events.CANARIES if c in logs.getvalue()]


def _logged_fields() -> dict[str, list[str]]:
    """Every keyword of every log call in the code (``log.info(..., case_id=...)``), and where."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for top in ("shared", "services", "casework") for p in (ROOT / top).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS:
                for keyword in node.keywords:
                    name = keyword.arg or "**"
                    found.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_field_the_code_logs_is_on_the_allowlist() -> None:
    """A new field is a decision: add it to ``SAFE_FIELDS`` only if it can never carry input."""
    unknown = {k: v for k, v in _logged_fields().items() if k not in caselog.SAFE_FIELDS | {"exc_info", "extra"}}
    assert not unknown, unknown
