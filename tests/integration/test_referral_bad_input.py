"""Bad input on ``referrals.responded`` and ``roster.specialists`` goes to the DLQ unchanged,
with the error headers, and the consumer goes on (docs/design.md, Bad input)."""

from __future__ import annotations

import json

from services.referral.app import bootstrap
from tests.support import referral as r
from tests.support.kafka import Bus


def responses() -> list[bytes | dict]:
    unknown_field = r.responded("case-b", "ref-1", "sp-ok")
    unknown_field["data"]["mood"] = "fine"
    wrong_type = r.responded("case-b", "ref-1", "sp-ok")
    wrong_type["data"]["response"] = 42
    wrong_value = r.responded("case-b", "ref-1", "sp-ok", "maybe")
    hostile = r.responded("case-b", "ref-1", "sp-ok", "declined", reason="\x1b[31mrm -rf\x00")
    other_type = r.responded("case-b", "ref-1", "sp-ok")
    other_type["type"] = "casework.referral.assigned.v1"  # not what this inbound topic carries
    missing = r.responded("case-b", "ref-1", "sp-ok")
    del missing["data"]["specialist_id"]
    return [b"{not json", json.dumps({"hello": "world"}).encode(), unknown_field, wrong_type, wrong_value,
            hostile, other_type, missing, b"[" * 5000 + b"]" * 5000]


def registrations() -> list[bytes | dict]:
    unknown_field = r.victim_specialist("sp-bad1")
    unknown_field["data"]["salary"] = 100
    wrong_type = r.victim_specialist("sp-bad2", max_active_cases="ten")
    wrong_bool = r.victim_specialist("sp-bad3", on_duty="yes")
    bad_region = r.victim_specialist("sp-bad4", regions=["Texas"])
    bad_role = r.victim_specialist("sp-bad5", role="volunteer")
    negative = r.victim_specialist("sp-bad6", max_active_cases=-1)
    return [b"\xff\xfe garbage", unknown_field, wrong_type, wrong_bool, bad_region, bad_role, negative,
            b"[" * 5000 + b"]" * 5000]


async def test_bad_responses_and_registrations_are_dead_lettered_and_consumers_go_on(settings, bus: Bus) -> None:
    await bus.ensure("roster.specialists", "referrals.responded", "cases.opened")
    bad_registrations = registrations()
    for index, bad in enumerate(bad_registrations):
        await bus.publish("roster.specialists", bad, key=f"sp-bad{index}")
    await bus.publish("roster.specialists", r.victim_specialist("sp-ok"))
    async with bootstrap(settings).app:
        bad_responses = responses()
        for bad in bad_responses:
            await bus.publish("referrals.responded", bad, key="case-b")
        await bus.publish("cases.opened", r.case_opened("case-b"))
        [assigned] = await bus.events("referrals.events", count=1, where=r.is_kind("assigned"))
        data = assigned["data"]
        assert data["specialist_id"] == "sp-ok"  # the roster consumer went on past the bad ones
        await bus.publish("referrals.responded", r.responded("case-b", data["referral_id"], "sp-ok"))
        await bus.events("referrals.events", count=1, where=r.is_kind("accepted"))
        dead_responses = await bus.read("referrals.responded.dlq", until=lambda recs: len(recs) >= len(bad_responses))
        dead_roster = await bus.read("roster.specialists.dlq", until=lambda recs: len(recs) >= len(bad_registrations))
    assert len(dead_responses) == len(bad_responses) and len(dead_roster) == len(bad_registrations)
    for record in dead_responses + dead_roster:
        headers = dict(record.headers)
        assert {"x-dlq-error-type", "x-dlq-error", "x-dlq-source", "x-dlq-attempts"} <= set(headers)
    sent = {bytes(b) if isinstance(b, bytes) else json.dumps(b).encode() for b in bad_responses}
    assert {rec.value for rec in dead_responses} == sent  # unchanged
    errors = " ".join(dict(rec.headers)["x-dlq-error"].decode() for rec in dead_roster)
    # the schema path and the error type, never the input: an unknown field is not named
    assert "data.(unknown field) [extra_forbidden]" in errors and "salary" not in errors
    assert "data.max_active_cases [int_type]" in errors and "data.regions[0] [string_pattern_mismatch]" in errors
    # nothing bad reached the roster: sp-bad* never became anyone's specialist
    events = await bus.events("referrals.events", timeout=1)
    assert {e["data"].get("specialist_id") for e in events} == {"sp-ok"}
