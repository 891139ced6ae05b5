"""The alert for an encounter nobody can read: its hints are checked exactly as the contract checks them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.intake.app import unprocessable
from shared.contracts.common import Identifier, Region
from shared.kit import FakeClock

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def record(data: object) -> ConsumerRecord:
    value = json.dumps({"data": data}).encode()
    return ConsumerRecord("encounters.reported", 0, 7, 0, 0, None, value, None, 0, len(value), [])


def hints(data: object) -> dict[str, str | None]:
    [alert] = unprocessable(record(data), ValueError("unreadable"), clock=FakeClock(NOW))
    return {"agency_id": alert.agency_id, "region": alert.region, "encounter_id": alert.encounter_id}


def accepted(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("data", "expected"), [
    ({"agency": {"id": "TX-DPS"}, "region": "US-TX", "encounter_id": "enc-1"},
     {"agency_id": "TX-DPS", "region": "US-TX", "encounter_id": "enc-1"}),
    ({"region": "US-TX\n", "encounter_id": "enc-1\n"}, {"agency_id": None, "region": None, "encounter_id": None}),
    ({"encounter_id": "e" * 128}, {"agency_id": None, "region": None, "encounter_id": "e" * 128}),
    ({"encounter_id": "e" * 129}, {"agency_id": None, "region": None, "encounter_id": None}),
    ({"region": "us-tx", "agency": {"id": "-leading-dash"}}, {"agency_id": None, "region": None, "encounter_id": None}),
    ({"region": ["US"], "agency": "TX-DPS"}, {"agency_id": None, "region": None, "encounter_id": None}),
], ids=["readable", "trailing line feed", "longest id", "id too long", "malformed", "wrong types"])
def test_only_hints_the_contract_accepts_reach_the_alert(data: object, expected: dict[str, str | None]) -> None:
    assert hints(data) == expected


@given(st.text(alphabet="ASUX-TZ19.:@/_\n é", max_size=140))
def test_an_identifier_hint_is_kept_exactly_when_the_contract_accepts_it(value: str) -> None:
    assert (hints({"encounter_id": value})["encounter_id"] == value) == accepted(TypeAdapter(Identifier), value)


@given(st.text(alphabet="AUSXT-19\n*a", max_size=8))
def test_a_region_hint_is_kept_exactly_when_the_contract_accepts_it(value: str) -> None:
    assert (hints({"region": value})["region"] == value) == accepted(TypeAdapter(Region), value)
