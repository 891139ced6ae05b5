"""Retention where identity lives: ``encounters.reported`` and its dead letters are kept only
``CASEWORK_INBOUND_RETENTION_HOURS``; every other topic keeps its catalogue retention."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.kafka import own_settings, with_retention
from shared.settings import IntakeSettings, Settings
from shared.topics import AUDIT_RETENTION_MS, CATALOGUE, DLQ_RETENTION_MS, HOUR_MS, dlq, spec

IDENTITY_TOPICS = ("encounters.reported", "encounters.reported.dlq")


def retention(name: str, **hours: int) -> int:
    return int(spec(name, **hours).kafka_config()["retention.ms"])


def test_by_default_the_encounters_and_their_dead_letters_are_kept_three_days() -> None:
    assert Settings().intake.inbound_retention_hours == 72
    assert [retention(name) for name in IDENTITY_TOPICS] == [72 * HOUR_MS] * 2


@pytest.mark.parametrize("hours", [1, 5, 240])
def test_the_specs_carry_the_configured_retention(hours: int) -> None:
    for name in IDENTITY_TOPICS:
        assert retention(name, inbound_retention_hours=hours) == hours * 3_600_000
        assert spec(name, inbound_retention_hours=hours).plain_identity


def test_a_record_waits_at_most_an_hour_in_its_segment_past_the_retention() -> None:
    for name in IDENTITY_TOPICS:
        assert spec(name, inbound_retention_hours=72).kafka_config()["segment.ms"] == str(HOUR_MS)
        assert spec(name, inbound_retention_hours=1).kafka_config()["segment.ms"] == str(HOUR_MS)
    assert "segment.ms" not in spec("referrals.responded.dlq").kafka_config()  # the broker's default


def test_the_dead_letter_topic_keeps_its_own_size_and_partitions() -> None:
    letters = spec("encounters.reported.dlq", inbound_retention_hours=5)
    assert letters.partitions == 1
    assert int(letters.kafka_config()["max.message.bytes"]) > int(spec("encounters.reported").kafka_config()
                                                                  ["max.message.bytes"])


def test_no_other_topic_is_bound_by_the_inbound_retention() -> None:
    others = [name for name in CATALOGUE if name != "encounters.reported"]
    assert not [name for name in others if spec(name).plain_identity]
    for name in others:
        assert retention(dlq(name), inbound_retention_hours=5) == DLQ_RETENTION_MS
        assert spec(name, inbound_retention_hours=5) == spec(name)
    assert retention("audit.events") == AUDIT_RETENTION_MS


@pytest.mark.parametrize("hours", [0, -1])
def test_a_retention_that_keeps_nothing_is_refused(hours: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_INBOUND_RETENTION_HOURS", str(hours))
    with pytest.raises(ValidationError, match="inbound_retention_hours"):
        IntakeSettings()
    with pytest.raises(ValueError, match="keeps nothing"):
        spec("encounters.reported", inbound_retention_hours=hours)


def entry(name: str, value: str | None, source: int) -> dict[str, object]:
    return {"config_names": name, "config_value": value, "read_only": False, "config_source": source,
            "is_sensitive": False, "config_synonyms": []}


def test_a_topics_own_settings_are_those_made_on_it() -> None:
    entries = [entry("retention.ms", "604800000", 1), entry("max.message.bytes", "1048576", 1),
               entry("segment.bytes", "1073741824", 5), entry("cleanup.policy", "delete", 5)]
    assert own_settings(entries) == {"retention.ms": "604800000", "max.message.bytes": "1048576"}


def test_a_topic_is_brought_to_its_retention_with_its_other_settings_kept() -> None:
    wanted = spec("encounters.reported.dlq", inbound_retention_hours=72).kafka_config()
    kept = {"retention.ms": str(72 * HOUR_MS), "segment.ms": str(HOUR_MS)}
    own = {"retention.ms": str(30 * 24 * HOUR_MS), "max.message.bytes": "1048576"}
    assert with_retention(own, wanted) == kept | {"max.message.bytes": "1048576"}
    assert with_retention({}, wanted) == kept  # the broker's defaults until now
    assert with_retention({"retention.ms": str(72 * HOUR_MS)}, wanted) == kept


def test_a_topic_at_its_retention_is_left_alone() -> None:
    wanted = spec("encounters.reported").kafka_config()
    at = {"retention.ms": str(72 * HOUR_MS), "segment.ms": str(HOUR_MS), "max.message.bytes": "1"}
    assert with_retention(at, wanted) is None
    assert with_retention({"retention.ms": str(DLQ_RETENTION_MS), "segment.ms": "5"},
                          spec("cases.opened.dlq").kafka_config()) is None  # its segments are the broker's
    assert with_retention({"retention.ms": "1"}, spec("cases.status").kafka_config()) is None  # states none
