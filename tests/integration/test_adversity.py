"""Regressions of the ways one message could stop a consumer for good, on the real servers.

Each case below once kept a partition re-reading the same batch forever (every encounter
after it waited): an alert the contract refused, a unique index on another field taken
for a version conflict, a dead letter the broker refused as too large. Now each record is
set aside with a clear error and the consumer goes on.
"""

from __future__ import annotations

import json
from datetime import timedelta

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel
from pymongo import IndexModel

from services.intake.app import bootstrap as intake
from shared.contracts.inbound import ReferralResponded
from shared.kafka import connection
from shared.kit import FakeClock, Inbound
from shared.kit.decision import Pure
from shared.kit.memory import RecordingPublisher
from shared.kit.service import Service
from shared.kit.store import MongoAggregateStore
from shared.kit.workflow import Workflow
from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.kit_behaviour import T0, Tally, bump, internal

HOSTILE_KEYS = ("\u202e\x01" + events.CANARY_GIVEN, "\u200b" * 3 + "\n" + events.CANARY_FAMILY, "x" * 5000)


async def test_an_encounter_whose_error_text_the_alert_refuses_is_set_aside(settings, bus: Bus, logs) -> None:
    hostile = events.encounter("ENC-hostile")
    for key in HOSTILE_KEYS:
        hostile["data"]["person"][key] = {key: key}
    async with intake(settings).app:
        await bus.publish("encounters.reported", hostile)
        await bus.publish("encounters.reported", events.encounter("ENC-after"))
        [opened] = await bus.events("cases.opened", count=1)
        [alert] = await bus.events("intake.events", count=1)
        [dead] = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= 1)
    assert opened["data"]["encounter_id"] == "ENC-after"  # the partition went on
    assert alert["data"]["encounter_id"] == "ENC-hostile" and "(unknown field)" in alert["data"]["error"]
    headers = {k: v.decode() for k, v in dead.headers}
    visible = json.dumps(alert) + json.dumps(headers) + logs.getvalue()
    assert not [c for c in events.CANARIES if c in visible]


class Coded(BaseModel):
    case_id: str
    code: str


def coded(state: Coded | None, event: Inbound, now) -> tuple[Coded, list]:
    return Coded(case_id=event.data.case_id, code=event.data.referral_id), []


async def test_a_unique_index_on_another_field_sets_the_event_aside(settings, bus: Bus) -> None:
    service = Service("unique", settings, principal="admin")  # a test's own service: the harness's principal
    flow = service.workflow("coded", Coded, Pure(coded),
                            indexes=[IndexModel("state.code", name="code", unique=True)])
    service.consume(ReferralResponded, handler=flow)

    def response(case_id: str, code: str) -> dict:
        data = {"case_id": case_id, "referral_id": code, "specialist_id": "sp-1", "response": "accepted"}
        return events.cloudevent("casework.referral.responded.v1", data, subject=case_id)

    async def stored(*ids: str) -> dict[str, str] | None:
        found = {i: (r.state or {})["code"] for i, r in (await flow.store.load(list(ids))).items()}
        return found if len(found) == len(ids) else None

    async with service.app:
        await bus.publish("referrals.responded", response("case-1", "R-1"))
        await eventually(lambda: stored("case-1"))
        await bus.publish("referrals.responded", response("case-2", "R-1"))  # the same code, another aggregate
        await bus.publish("referrals.responded", response("case-3", "R-3"))
        [dead] = await bus.read("referrals.responded.dlq", until=lambda r: len(r) >= 1)
        codes = await eventually(lambda: stored("case-1", "case-3"))
        assert await flow.store.load(["case-2"]) == {}
    assert {k: v.decode() for k, v in dead.headers}["x-dlq-error-type"] == "Refused"
    assert dead.key == b"case-2" and codes == {"case-1": "R-1", "case-3": "R-3"}


async def test_a_dead_letter_the_broker_refuses_goes_as_a_reference(settings, bus: Bus) -> None:
    # A dead-letter topic created before its headroom existed: it takes at most 1 MiB.
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic("encounters.reported.dlq"), 1, 1,
                                            topic_configs={"max.message.bytes": str(1024 * 1024)})])
    finally:
        await admin.close()
    huge = events.encounter("ENC-huge")
    huge["data"]["narrative"] = "n" * (2 * 1024 * 1024)  # over both the service's limit and the topic's
    async with intake(settings).app:
        await bus.publish("encounters.reported", huge)
        await bus.publish("encounters.reported", events.encounter("ENC-next"))
        [opened] = await bus.events("cases.opened", count=1)
        [dead] = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= 1)
    assert opened["data"]["encounter_id"] == "ENC-next"
    body = json.loads(dead.value)
    assert body["dead_letter"] == "reference" and body["bytes"] > 2 * 1024 * 1024
    assert {k: v.decode() for k, v in dead.headers}["x-dlq-error-type"] == "PayloadTooLarge"


async def test_more_outboxes_left_by_a_crash_than_one_sweep_takes_all_go_out(settings, mongo) -> None:
    store = MongoAggregateStore(mongo[settings.database("relay")]["aggregates"])
    clock = FakeClock(T0)
    crashed = Workflow("relay", Tally, Pure(bump), store, RecordingPublisher(fail_next=10**6), clock,
                       "casework/relay", aggregate_id=lambda e: e.subject or "", relay_after=timedelta(seconds=5))
    try:
        await crashed.handle([internal(f"e{i}", f"case-{i:04d}") for i in range(600)])
    except ConnectionError:
        pass  # written, never published: the process "died" here
    publisher = RecordingPublisher()
    restarted = Workflow("relay", Tally, Pure(bump), store, publisher, clock, "casework/relay",
                         aggregate_id=lambda e: e.subject or "", relay_after=timedelta(seconds=5))
    await restarted.keep_watermarks()
    clock.advance(seconds=6)
    await restarted.sweep()  # one call, however many it takes
    assert len({json.loads(e["value"])["data"]["case_id"] for e in publisher.sent}) == 600
    await mongo.drop_database(settings.database("relay"))
