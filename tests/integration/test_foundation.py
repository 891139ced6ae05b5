"""The foundation on the real servers: a FastStream round trip, the DLQ, FerretDB basics."""

from __future__ import annotations

import json

import pytest
from pymongo.errors import DuplicateKeyError

from shared.contracts.inbound import ReferralResponded
from shared.contracts.intake import CaseOpened
from shared.kafka import headers_of
from shared.kit import Inbound
from shared.kit.service import Service
from tests.support import events
from tests.support.kafka import Bus


def echo_service(settings) -> Service:
    """A one-handler service: every referral response becomes a (dummy) event out."""
    service = Service("echo", settings, principal="admin")  # a test's own service: the harness's principal
    received: list[Inbound] = []

    async def handler(batch: list[Inbound]) -> list:
        received.extend(batch)
        for event in batch:
            await service.broker.publish(
                json.dumps({"specversion": "1.0", "id": f"out-{event.id}", "source": "casework/echo",
                            "type": "casework.echo.v1", "subject": event.subject,
                            "data": {"case_id": event.data.case_id}}).encode(),
                settings.topic("cases.opened"), key=event.key.encode(),
                headers={"content-type": "application/cloudevents+json"})
        return []

    service.consume(ReferralResponded, handler=handler)
    service.produces(CaseOpened)
    service.received = received  # type: ignore[attr-defined]
    return service


def response(case_id: str, **overrides) -> dict:
    data = {"case_id": case_id, "referral_id": "ref-1", "specialist_id": "sp-1", "response": "accepted"}
    return events.cloudevent("casework.referral.responded.v1", data | overrides, subject=case_id,
                             source="app/specialists")


async def test_cloudevent_round_trip_keeps_key_and_dead_letters_bad_input(settings, bus: Bus) -> None:
    service = echo_service(settings)
    async with service.app:
        await bus.publish("referrals.responded", response("case-1"))
        await bus.publish("referrals.responded", b"{broken", key="case-2",
                          headers={"correlation_id": "corr-broken"})
        await bus.publish("referrals.responded", response("case-3", response="maybe"))
        await bus.publish("referrals.responded", response("case-4"))
        out = await bus.read("cases.opened", until=lambda r: len(r) >= 2)
        dead = await bus.read("referrals.responded.dlq", until=lambda r: len(r) >= 2)
    assert sorted(r.key for r in out) == [b"case-1", b"case-4"]
    assert [json.loads(r.value)["id"].startswith("out-") for r in out] == [True, True]
    assert sorted(r.key for r in dead) == [b"case-2", b"case-3"]
    broken = next(r for r in dead if r.key == b"case-2")
    headers = headers_of(broken)
    assert broken.value == b"{broken"  # unchanged
    assert headers["x-dlq-error-type"] == "ValidationError"
    assert headers["x-dlq-source"].startswith(settings.topic("referrals.responded") + "/")
    assert headers["x-dlq-attempts"] == "1" and "JSON" in headers["x-dlq-error"]
    assert headers["correlation_id"] == "corr-broken"
    wrong_type = headers_of(next(r for r in dead if r.key == b"case-3"))
    assert "data.response" in wrong_type["x-dlq-error"]


async def test_ferretdb_insert_find_update_and_unique_index(settings, mongo) -> None:
    collection = mongo[settings.database("foundation")]["things"]
    await collection.create_index("code", unique=True)
    await collection.insert_one({"_id": "a", "code": "X1", "n": 1})
    await collection.update_one({"_id": "a"}, {"$inc": {"n": 2}, "$set": {"tag": "t"}})
    assert await collection.find_one({"code": "X1"}) == {"_id": "a", "code": "X1", "n": 3, "tag": "t"}
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "b", "code": "X1"})
    await mongo.drop_database(settings.database("foundation"))
