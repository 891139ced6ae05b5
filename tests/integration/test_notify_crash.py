"""The notify process SIGKILLed mid-batch and restarted: every mail reaches the sink once.

Failpoints kill the real process (``faststream run``) at the two places a crash matters:
right after a batch's notifications are written with their deliveries claimed (nothing
sent, the batch not committed), and right after the first outcome is recorded while the
other claimed deliveries wait their turn. The claims' leases run out and the restarted
process sends what was not recorded as sent, and nothing else.
"""

from __future__ import annotations

from tests.support import notifications as n
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

SPEC = "spec-b"
COUNT = 5


async def test_killed_mid_batch_and_restarted_sends_each_mail_once(settings, bus: Bus, mongo, tmp_path,
                                                                  proc_logs) -> None:
    async with n.receivers(tmp_path) as (sink, _):
        # One send at a time, short leases: the second kill finds exactly one mail recorded.
        config = n.notify_settings(settings, sink, delivery={"concurrency": 1, "lease_seconds": 3.0,
                                                           "send_timeout_seconds": 1.0, "retry_base_seconds": 0.2},
                                   kit={"timer_sweep_seconds": 0.2})
        await bus.ensure("roster.specialists", "referrals.events")
        await bus.publish("roster.specialists", n.member(SPEC))
        notify = ServiceProcess("notify", config, proc_logs)
        try:
            notify.start(failpoints="after-write")
            await notify.ready()
            for i in range(COUNT):
                await bus.publish("referrals.events", n.cloud(n.assigned(f"case-{i}", SPEC)), key=f"case-{i}")
            assert await notify.wait_exit(30) != 0  # killed after writing, before sending
            assert sink.files() == []

            notify.start(failpoints="notify-after-record")
            assert await notify.wait_exit(60) != 0  # killed after recording the first mail sent
            assert len(sink.files()) >= 1

            notify.start(failpoints="")
            await notify.ready()
            await eventually(lambda: len(sink.files()) >= COUNT, timeout=30)
            rows = await eventually(lambda: _all_sent(mongo, config), timeout=20)
        finally:
            notify.stop()
        assert sorted(sink.per_message_id().values()) == [1] * COUNT, notify.log()[-3000:]
        assert len(rows) == COUNT and any(r["attempts"] > 1 for r in rows)  # the leases ran out


async def _all_sent(mongo, config) -> list[dict] | None:
    rows = await n.delivery_log(mongo, config)
    return rows if len(rows) == COUNT and all(r["status"] == "sent" for r in rows) else None
