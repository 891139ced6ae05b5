"""What ``casework dlq list`` prints of a dead letter: its place, digest and error, never the
sender's key, headers or content; the event's ids only when they are identifiers."""

from __future__ import annotations

import hashlib
import json

from aiokafka import ConsumerRecord
from typer.testing import CliRunner

from casework.cli import app
from casework.commands.dlq import content_lines, event_ids, shown, summary, summary_lines
from tests.support import events


def letter(value: bytes | None, *, key: bytes | None = b"ENC-1", headers: dict[str, str] | None = None,
           ) -> ConsumerRecord:
    dead = {"x-dlq-error-type": "ValidationError", "x-dlq-error": "1 validation error(s): data.region [missing]",
            "x-dlq-source": "encounters.reported/2/41", "x-dlq-attempts": "1"}
    return ConsumerRecord(topic="encounters.reported.dlq", partition=0, offset=7, timestamp=1_796_300_000_000,
                          timestamp_type=0, key=key, value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=0,
                          headers=[(k, v.encode()) for k, v in (headers if headers is not None else dead).items()])


def listed(record: ConsumerRecord) -> str:
    return "\n".join(summary_lines(summary(record)))


def test_a_dead_encounter_is_listed_by_place_digest_error_and_event_ids() -> None:
    event = events.encounter(region="nowhere")
    value = json.dumps(event).encode()
    text = listed(letter(value, key=events.CANARY_GIVEN.encode(),
                         headers={"trace": events.CANARY_PHONE, "x-dlq-error-type": "ValidationError",
                                  "x-dlq-error": "1 validation error(s): data.region [missing]",
                                  "x-dlq-source": "encounters.reported/2/41", "x-dlq-attempts": "3"}))
    assert not [canary for canary in events.CANARIES if canary in text], text
    assert "encounters.reported.dlq 0/7  2026-12-03T" in text and f"{len(value)} bytes" in text
    assert hashlib.sha256(value).hexdigest() in text
    assert "from     encounters.reported/2/41 (attempts 3)" in text
    assert "error    ValidationError: 1 validation error(s): data.region [missing]" in text
    assert f"event    casework.encounter.reported.v1 id {event['id']}" in text


def test_ids_that_are_not_identifiers_are_not_shown() -> None:
    assert event_ids(json.dumps({"type": "casework.x.v1", "id": f"{events.CANARY_GIVEN} {events.CANARY_FAMILY}"})
                     .encode()) == ("casework.x.v1", None)
    assert event_ids(json.dumps({"type": ["casework"], "id": 7}).encode()) == (None, None)
    assert event_ids(json.dumps({"type": "t" * 129, "id": "\u202eid"}).encode()) == (None, None)
    for value in (b"{broken", b"\xff\xfe", b"[" * 100_000, b'"a string"', b"[1, 2]", b""):
        assert event_ids(value) == (None, None)


def test_headers_that_are_not_the_kits_are_not_trusted() -> None:
    hostile = {"x-dlq-source": f"{events.CANARY_GIVEN} lives at 4 Elm St", "x-dlq-attempts": events.CANARY_PHONE,
               "x-dlq-error-type": "\x1b]0;title\x07Boom", "x-dlq-error": "line\nbreak\x1b[2J"}
    text = listed(letter(b"{}", headers=hostile))
    assert "from     ? (attempts ?)" in text
    assert events.CANARY_GIVEN not in text and events.CANARY_PHONE not in text
    assert "\x1b" not in text and "\x07" not in text and "line break" in text


def test_a_letter_without_value_or_headers_is_still_listed() -> None:
    text = listed(letter(None, key=None, headers={}))
    assert "0 bytes" in text and hashlib.sha256(b"").hexdigest() in text and "error    ?: ?" in text


def test_a_reference_says_so() -> None:
    reference = {"x-dlq-source": "encounters.reported/0/3", "x-dlq-attempts": "1", "x-dlq-reference": "true",
                 "x-dlq-error-type": "MessageSizeTooLargeError", "x-dlq-error": "too large"}
    assert "a reference to the original" in listed(letter(b'{"dead_letter": "reference"}', headers=reference))


def test_revealed_content_is_all_there_with_control_characters_escaped() -> None:
    lines = content_lines(letter(b'{"who": "' + events.CANARY_GIVEN.encode() + b'"}\x1b[2J',
                                 key=b"ENC-1", headers={"trace": events.CANARY_PHONE}))
    assert lines[0] == "  key      ENC-1"
    assert f"  header   trace: {events.CANARY_PHONE}" in lines
    assert lines[-1] == '  value    {"who": "' + events.CANARY_GIVEN + '"}\\x1b[2J'
    assert shown(None) == "(none)" and shown("a\tb\nc\u009b".encode()) == "a\tb\nc\\x9b" and shown(b"\xff") == "\ufffd"


def test_reveal_names_the_operator_before_anything_is_read() -> None:
    runner = CliRunner()
    unnamed = runner.invoke(app, ["dlq", "list", "encounters.reported", "--reveal"], env={"USER": "root"})
    assert unnamed.exit_code == 2 and "--reveal needs --operator NAME" in unnamed.output
    spaced = runner.invoke(app, ["dlq", "list", "encounters.reported", "--reveal", "--operator", "Op One"])
    assert spaced.exit_code == 2 and "identifier" in spaced.output
