"""The envelope: what consumers accept and what producers write."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.cloudevents import derived_id, encode, new_event, reader
from shared.contracts.inbound import EncounterReported, ReferralResponded, ReferralResponseKind
from shared.errors import describe
from tests.support import events


def test_minimal_sdk_style_event_is_accepted_with_extensions_kept() -> None:
    event = events.encounter()
    for optional in ("time", "subject", "datacontenttype"):
        event.pop(optional)
    event["traceparent"] = "00-abc-def-01"
    parsed = reader(EncounterReported).validate_json(events.encode(event))
    assert parsed.data.encounter_id == event["data"]["encounter_id"]
    assert parsed.model_extra == {"traceparent": "00-abc-def-01"}


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("specversion"),
    lambda e: e.update(specversion="0.3"),
    lambda e: e.update(type="casework.referral.responded.v1"),
    lambda e: e.update(id=""),
    lambda e: e.update(datacontenttype="application/xml"),
    lambda e: e.update({"Bad-Name": "x"}),
    lambda e: e.update(ext={"nested": True}),
    lambda e: e["data"].update(unexpected="field"),
    lambda e: e["data"].update(region="texas"),
    lambda e: e["data"]["person"].update(age_estimate=10**40),
    lambda e: e["data"]["person"].update(languages=[]),
    lambda e: e["data"].update(encounter_id="bad\x00id"),
])
def test_invalid_events_are_refused(mutate) -> None:
    event = events.encounter()
    mutate(event)
    with pytest.raises(ValidationError) as info:
        reader(EncounterReported).validate_json(events.encode(event))
    assert events.CANARY_GIVEN not in describe(info.value)


def test_deep_nesting_is_refused_without_crashing() -> None:
    with pytest.raises(ValidationError):
        reader(EncounterReported).validate_json(b"[" * 100_000 + b"]" * 100_000)


def test_produced_event_round_trips_and_ids_are_deterministic() -> None:
    payload = ReferralResponded(case_id="case-1", referral_id="r-1", specialist_id="s-1",
                                response=ReferralResponseKind.ACCEPTED)
    event = new_event(payload, event_id=derived_id("in-1", 0), source="casework/test",
                      time=datetime(2026, 1, 1, tzinfo=UTC), correlation_id="corr-1")
    raw = json.loads(encode(event))
    assert raw["subject"] == "case-1" and raw["datacontenttype"] == "application/json"
    assert raw["correlationid"] == "corr-1" and raw["time"] == "2026-01-01T00:00:00Z"
    assert reader(ReferralResponded).validate_json(encode(event)).data == payload
    assert derived_id("in-1", 0) == derived_id("in-1", 0) != derived_id("in-1", 1)


def test_services_reacting_to_the_same_input_emit_different_ids() -> None:
    # every service reads cases.opened: status and notify read all their outputs and drop repeats by id
    services = ["intake", "referral", "stabilization", "certification", "notify", "status"]
    assert len({derived_id("opened-1", 0, by=s) for s in services}) == len(services)
    assert derived_id("opened-1", 0, by="referral") == derived_id("opened-1", 0, by="referral")


def test_a_reader_over_several_types_names_the_type_in_the_error_path_never_an_input_tag() -> None:
    from shared.contracts.inbound import EncounterWithdrawn

    bad = events.encounter()
    bad["data"]["region"] = "nowhere!"
    with pytest.raises(ValidationError) as caught:
        reader(EncounterReported, EncounterWithdrawn).validate_json(json.dumps(bad))
    assert describe(caught.value).startswith("1 validation error(s): casework.encounter.reported.v1.data.region ")
    bad = events.encounter() | {"type": events.CANARY_GIVEN}
    with pytest.raises(ValidationError) as caught:
        reader(EncounterReported, EncounterWithdrawn).validate_json(json.dumps(bad))
    assert events.CANARY_GIVEN not in describe(caught.value)
