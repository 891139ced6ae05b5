"""Bad input to the stabilization service goes to ``<topic>.dlq`` unchanged, with the
error headers, and the consumer goes on with what follows (docs/design.md, Bad input)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from services.stabilization.app import bootstrap
from shared.kafka import headers_of
from shared.kit import FakeClock
from shared.settings import Settings
from tests.integration.test_stabilization_flow import (
    OPENED,
    PROGRESSED,
    accepted,
    case_events,
    case_opened,
    interview,
    milestone,
    wait,
)
from tests.support.events import CANARIES, CANARY_NARRATIVE, cloudevent
from tests.support.kafka import Bus

ATTESTED = {"no_relationship_to_person": True, "no_ties_to_trafficker": True,
            "not_victim_advocate": True, "gender_preference_respected": True}


def broken(event: dict[str, Any], **data: Any) -> dict[str, Any]:
    return event | {"id": str(uuid.uuid4()), "data": event["data"] | data}


async def test_malformed_and_hostile_input_is_dead_lettered_and_the_consumer_goes_on(
        settings: Settings, bus: Bus, logs) -> None:
    case = f"case-{uuid.uuid4().hex[:8]}"
    key = case
    recorded = [
        b"{not json",
        json.dumps(milestone(case, "coffee_served")).encode(),  # an unknown milestone
        json.dumps(milestone(case, "urgent_need_met", need="yacht")).encode(),
        json.dumps(milestone(case, "interpreter_arranged", language="es", mode="telephonic")).encode(),
        json.dumps(broken(milestone(case, "rights_explained"), case_id="case\x1b[31m")).encode(),
        json.dumps(cloudevent("casework.certification.recorded.v1", {"case_id": case})).encode(),
        b"[" * 5000 + b"]" * 5000,
        json.dumps(milestone(case, "urgent_need_met", need=CANARY_NARRATIVE)).encode(),  # PII where it is not allowed
    ]
    requested = [json.dumps(interview(case, "iv-bad", location="basement")).encode(),
                 json.dumps(broken(interview(case, "iv-bad"), proposed_at="tomorrow")).encode()]
    async with bootstrap(settings, clock=FakeClock(OPENED)).app:
        for value in recorded:
            await bus.publish("stabilization.recorded", value, key=key)
        for value in requested:
            await bus.publish("interviews.requested", value, key=key)
        await bus.publish("cases.opened", json.dumps(broken(case_opened(case), languages="es")).encode(), key=key)
        await bus.publish("referrals.events", b"\x00\xff", key=key)
        declined = cloudevent("casework.referral.declined.v1", {"case_id": case}, source="casework/referral")
        await bus.publish("referrals.events", declined)  # another referral type: not ours, skipped
        # What follows each bad message on its partition is still processed.
        await bus.publish("cases.opened", case_opened(case, interpreter_needed=True))
        await bus.publish("referrals.events", accepted(case))
        await bus.publish("stabilization.recorded", milestone(
            case, "interpreter_arranged", language="es", mode="in_person",
            attestations=ATTESTED | {"no_ties_to_trafficker": False}))
        await bus.publish("interviews.requested", interview(case, "iv-good"))
        await wait(bus, "casework.interpreter.rejected.v1", case)
        await wait(bus, "casework.interview.deferred.v1", case, interview_id="iv-good")
        await wait(bus, PROGRESSED, case, change="specialist_engaged")

    # Each dead letter was sent before the message behind it on its partition was handled.
    topics = ("stabilization.recorded", "interviews.requested", "cases.opened", "referrals.events")
    dead = dict(zip(topics, await asyncio.gather(*(bus.read(f"{t}.dlq", timeout=3) for t in topics)), strict=True))
    assert [r.value for r in dead["stabilization.recorded"]] == recorded  # unchanged, in order
    assert [r.value for r in dead["interviews.requested"]] == requested
    assert len(dead["cases.opened"]) == 1
    assert [r.value for r in dead["referrals.events"]] == [b"\x00\xff"]  # the other referral type was skipped
    for records in dead.values():
        for record in records:
            headers = headers_of(record)
            assert headers["x-dlq-error-type"] and headers["x-dlq-error"] and headers["x-dlq-attempts"] == "1"
            assert headers["x-dlq-source"].startswith(settings.topic(""))
            assert not [c for c in CANARIES if c in headers["x-dlq-error"]]
    unknown = headers_of(dead["stabilization.recorded"][1])
    assert "milestone" in unknown["x-dlq-error"]
    rejected = [e for e in await case_events(bus, case) if e["type"] == "casework.interpreter.rejected.v1"]
    assert [e["data"]["reasons"] for e in rejected] == [["ties_to_trafficker"]]
    output = logs.getvalue()
    assert "dead-lettered" in output and "\x1b" not in output
    assert not [c for c in CANARIES if c in output]
