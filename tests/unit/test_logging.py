"""Log redaction: identity never reaches a log line, whatever the code logs."""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError

from shared import logging as caselog
from shared.cloudevents import reader
from shared.contracts.inbound import EncounterReported
from tests.support import events


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
