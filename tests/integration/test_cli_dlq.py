"""``casework dlq list`` shows why without showing what; ``replay`` sends the original back."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from casework.cli import app
from shared.contracts.inbound import ReferralResponded
from shared.kit.service import Service
from tests.support import events
from tests.support.kafka import Bus


async def test_list_and_replay_a_dead_letter(settings, bus: Bus) -> None:
    service = Service("dlqtest", settings)

    async def ignore(batch):
        return []

    service.consume(ReferralResponded, handler=ignore)
    secret = events.CANARY_GIVEN
    async with service.app:
        await bus.publish("referrals.responded", f'{{"not": "an event", "who": "{secret}"}}'.encode(), key="case-7",
                          headers={"trace": "t-1"})
        await bus.read("referrals.responded.dlq", until=lambda r: len(r) >= 1)
    env = {"CASEWORK_TOPIC_PREFIX": settings.topic_prefix}
    runner = CliRunner()
    listed = await asyncio.to_thread(runner.invoke, app, ["dlq", "list", "referrals.responded"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "ValidationError" in listed.output and "case-7" in listed.output and secret not in listed.output

    replayed = await asyncio.to_thread(runner.invoke, app, ["dlq", "replay", "referrals.responded", "--yes"], env=env)
    assert replayed.exit_code == 0 and "replayed 1" in replayed.output
    records = await bus.read("referrals.responded", until=lambda r: len(r) >= 2)
    assert records[0].value == records[1].value and records[1].key == b"case-7"
    assert dict(records[1].headers)["trace"] == b"t-1"
    assert not [k for k, _ in records[1].headers if k.startswith("x-dlq-")]
