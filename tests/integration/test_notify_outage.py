"""A database outage in the middle of a notify burst: no mail is sent twice, none is lost.

The notify process keeps its FerretDB of its own, which is killed with deliveries under way
and brought back after ``CASEWORK_OUTAGE_SECONDS`` (20 here; 60 in ``make chaos``): the
outcomes of the mails that went out wait for the database however long it takes, their
leases are extended meanwhile, and the service reports not-ready until it is back.
"""

from __future__ import annotations

import asyncio
import os

import httpx

from tests.support import notifications as n
from tests.support.ferret import PrivateFerretDB
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess
from tests.support.receivers import MailSink

OUTAGE = float(os.environ.get("CASEWORK_OUTAGE_SECONDS", "20"))
MAILS = 40
SPEC = "spec-outage"


async def readiness(port: int) -> int:
    async with httpx.AsyncClient(timeout=15) as client:
        try:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
        except httpx.HTTPError:
            return 0


async def test_no_mail_twice_across_a_database_outage(settings, bus: Bus, tmp_path, proc_logs) -> None:
    ferret = PrivateFerretDB(tmp_path / "ferret")
    ferret.start()
    accepted: list[str] = []

    def take_the_database_away_at_the_fifth(message_id: str, _: bytes) -> None:
        accepted.append(message_id)
        if len(accepted) == 5:
            ferret.kill()  # before the server answers: this mail's outcome meets the outage

    sink = MailSink(tmp_path / "outbox", on_message=take_the_database_away_at_the_fifth)
    await sink.start()
    try:
        # Leases far shorter than the outage: without the extension every mail under way would go twice.
        config = n.notify_settings(settings, sink, mongo_uri=ferret.uri,
                                   delivery={"lease_seconds": 4.0, "retry_base_seconds": 0.05,
                                             "send_timeout_seconds": 1.0, "concurrency": 4},
                                   kit={"timer_sweep_seconds": 0.2})
        await bus.ensure("roster.specialists", "referrals.events")
        await bus.publish("roster.specialists", n.member(SPEC))
        notify = ServiceProcess("notify", config, proc_logs)
        try:
            notify.start()
            await notify.ready()
            for i in range(MAILS):
                await bus.publish("referrals.events", n.cloud(n.assigned(f"case-{i}", SPEC)), key=f"case-{i}")
            await eventually(lambda: len(accepted) >= 5, timeout=30)
            await asyncio.sleep(OUTAGE / 2)
            down = await readiness(notify.port)
            await asyncio.sleep(OUTAGE / 2)
            ferret.start()
            await eventually(lambda: len(sink.files()) >= MAILS, timeout=90)
            await eventually(lambda: readiness_ok(notify.port), timeout=60)
            await asyncio.sleep(config.notify.delivery.lease_seconds * 2)  # any lease still to run out
        finally:
            notify.stop()
            ferret.stop()
    finally:
        await sink.stop()
    assert down == 503
    counts = sink.per_message_id()
    assert len(counts) == MAILS and set(counts.values()) == {1}, notify.log()[-3000:]


async def readiness_ok(port: int) -> bool:
    return await readiness(port) == 200
