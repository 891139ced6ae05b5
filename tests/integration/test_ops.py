"""What an operator scrapes: health, readiness and metrics of a running service process."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}


async def test_health_readiness_and_metrics_of_a_running_service(settings, bus: Bus, proc_logs) -> None:
    intake = ServiceProcess("intake", settings, proc_logs)
    intake.start()
    try:
        await intake.ready()
        base = f"http://127.0.0.1:{intake.port}"
        async with httpx.AsyncClient(timeout=5) as client:
            alive = await client.get(f"{base}/healthz")
            ready = await client.get(f"{base}/readyz")
            await bus.publish("encounters.reported", events.encounter("ENC-ops"))
            await bus.events("cases.opened", count=1)

            async def counted() -> str | None:  # the batch is counted once it is committed
                text = (await client.get(f"{base}/metrics")).text
                # intake reads its own cases.opened too (who holds a case): caught up there as well
                caught_up = set(samples(text, "casework_consumer_lag").values()) == {0.0}
                return text if samples(text, "casework_messages_handled_total") and caught_up else None

            text = await eventually(counted, timeout=10)
    finally:
        intake.stop()

    assert alive.status_code == 200 and alive.json() == {"service": "intake", "status": "alive"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"started": True, "kafka": True, "mongo": True, "consuming": True}
    assert ready.json()["held"] == {}

    handled = samples(text, "casework_messages_handled_total")
    assert handled[(("service", "intake"), ("topic", "encounters.reported"))] >= 1
    assert samples(text, "casework_events_published_total")[(("service", "intake"),)] >= 1
    commands = samples(text, "casework_db_commands_total")
    intake_db = settings.database("intake")
    assert sum(v for labels, v in commands.items() if ("database", intake_db) in labels) >= 2  # a read and a write
    assert sum(samples(text, "casework_db_command_seconds_count").values()) >= 2
    lag = samples(text, "casework_consumer_lag")
    assert {dict(labels)["partition"] for labels in lag} == {"0", "1", "2"} and set(lag.values()) == {0.0}
    assert not [c for c in events.CANARIES if c in text]
