"""``casework dlq list`` shows why without showing what; ``--reveal`` shows what only once the
look is on ``audit.events``; ``replay`` sends the original back."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from typer.testing import CliRunner

import casework.commands.dlq as dlq_command
from casework.cli import app
from shared.contracts.inbound import EncounterReported, EncounterWithdrawn, ReferralResponded
from shared.kit.service import Service
from tests.support import events
from tests.support.kafka import Bus

NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there


def ignoring(settings, *payloads) -> Service:
    """A service that reads ``payloads`` and does nothing with them: what it cannot read is
    dead-lettered by the kit as every service's is."""
    service = Service("dlqtest", settings, principal="admin")  # a test's own service: the harness's principal

    async def ignore(batch):
        return []

    service.consume(*payloads, handler=ignore)
    return service


async def dead_letter_a_canary_encounter(settings, bus: Bus) -> tuple[dict, bytes]:
    """An encounter full of canaries that fails validation (its region is not one)."""
    encounter = events.encounter(region="not a region")
    async with ignoring(settings, EncounterReported, EncounterWithdrawn).app:
        await bus.publish("encounters.reported", encounter, headers={"trace": events.CANARY_PHONE})
        [dead] = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= 1)
    return encounter, dead.value


async def invoke(settings, *args: str):
    env = {"CASEWORK_TOPIC_PREFIX": settings.topic_prefix, "USER": "somebody"}
    return await asyncio.to_thread(CliRunner().invoke, app, ["dlq", *args], env=env)


async def test_list_and_replay_a_dead_letter(settings, bus: Bus) -> None:
    secret = events.CANARY_GIVEN
    async with ignoring(settings, ReferralResponded).app:
        await bus.publish("referrals.responded", f'{{"not": "an event", "who": "{secret}"}}'.encode(), key="case-7",
                          headers={"trace": "t-1"})
        await bus.read("referrals.responded.dlq", until=lambda r: len(r) >= 1)
    listed = await invoke(settings, "list", "referrals.responded")
    assert listed.exit_code == 0, listed.output
    assert "ValidationError" in listed.output and f"{settings.topic('referrals.responded')}/" in listed.output
    assert secret not in listed.output and "case-7" not in listed.output and "t-1" not in listed.output

    replayed = await invoke(settings, "replay", "referrals.responded", "--yes")
    assert replayed.exit_code == 0 and "replayed 1" in replayed.output
    records = await bus.read("referrals.responded", until=lambda r: len(r) >= 2)
    assert records[0].value == records[1].value and records[1].key == b"case-7"
    assert dict(records[1].headers)["trace"] == b"t-1"
    assert not [k for k, _ in records[1].headers if k.startswith("x-dlq-")]


async def test_a_dead_lettered_encounter_is_listed_without_a_trace_of_the_person(settings, bus: Bus) -> None:
    encounter, value = await dead_letter_a_canary_encounter(settings, bus)
    listed = await invoke(settings, "list", "encounters.reported")
    assert listed.exit_code == 0, listed.output
    assert not [canary for canary in events.CANARIES if canary in listed.output], listed.output
    assert encounter["data"]["encounter_id"] not in listed.output  # the key is the agency's: not shown
    assert hashlib.sha256(value).hexdigest() in listed.output and f"{len(value)} bytes" in listed.output
    assert f"casework.encounter.reported.v1 id {encounter['id']}" in listed.output
    assert "ValidationError" in listed.output and "data.region" in listed.output


async def test_reveal_shows_the_content_once_the_look_is_on_the_audit_trail(settings, bus: Bus) -> None:
    encounter, _ = await dead_letter_a_canary_encounter(settings, bus)
    await bus.ensure("audit.events")  # as the services that write it create it

    unnamed = await invoke(settings, "list", "encounters.reported", "--reveal")
    assert unnamed.exit_code == 2 and "--operator" in unnamed.output
    assert not [canary for canary in events.CANARIES if canary in unnamed.output]

    revealed = await invoke(settings, "list", "encounters.reported", "--reveal", "--operator", "op-1")
    assert revealed.exit_code == 0, revealed.output
    assert [canary for canary in events.CANARIES if canary in revealed.output] == list(events.CANARIES)
    assert f"key      {encounter['data']['encounter_id']}" in revealed.output
    records = await bus.read("audit.events", until=lambda r: len(r) >= 1)
    [record] = [json.loads(r.value)["data"] for r in records]
    assert record["action"] == "dlq.revealed" and record["outcome"] == "granted"
    assert record["actor"] == {"id": "op-1", "role": "operator"} and record["via"] == "casework_cli"
    assert records[0].key == b"actor:op-1"
    assert not [canary for canary in events.CANARIES if canary.encode() in records[0].value]


async def test_a_look_that_cannot_be_recorded_shows_nothing(settings, bus: Bus,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    await dead_letter_a_canary_encounter(settings, bus)
    await bus.ensure("audit.events")
    real = dlq_command.make_broker
    # The dead letters are read, then the broker is out of reach for the audit record.
    monkeypatch.setattr(dlq_command, "make_broker",
                        lambda s, client_id: real(s.amended(kafka_bootstrap=NOWHERE), client_id))
    refused = await invoke(settings, "list", "encounters.reported", "--reveal", "--operator", "op-1")
    assert refused.exit_code == 1
    assert "nothing is shown" in refused.output
    assert not [canary for canary in events.CANARIES if canary in refused.output], refused.output
    assert "sha256" not in refused.output  # not even the listing
    assert await bus.read("audit.events", timeout=2) == []
