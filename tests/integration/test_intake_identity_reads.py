"""The identity path on the real broker and FerretDB: only the specialist who accepted the
case's current referral reads the person's identity, while the case is open; every read
and refusal is on ``audit.events``; the identity is in the one response and nowhere else.

Intake runs as in production; the referral service's word is published on
``referrals.events`` as it would publish it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from services.intake.app import bootstrap
from services.status.identity import IdentityReader, IdentityUnavailable
from shared.contracts.inbound import ReassignmentReason
from shared.contracts.referrals import ReleaseReason
from shared.settings import Settings
from tests.support import events
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess, free_port
from tests.support.status import T0

CREDENTIAL = "cwv_test-credential-for-the-vault-reader"
M = timedelta(minutes=1)
QUIET_TOPICS = ("cases.opened", "intake.events", "referrals.events", "audit.events", "encounters.reported.dlq",
                "referrals.events.dlq", "cases.opened.dlq")


def at(minutes: int):
    return T0 + minutes * M


def with_credential(settings: Settings) -> Settings:
    return settings.amended(intake={"vault_reader_token": CREDENTIAL})


def as_referral(payload: Any, *, event_id: str | None = None) -> dict[str, Any]:
    return ev.cloudevent(payload, event_id=event_id) | {"source": "casework/referral"}


def leaks(text: str) -> list[str]:
    return [c for c in events.CANARIES if c in text]


async def opened_case(bus: Bus, encounter_id: str) -> str:
    await bus.publish("encounters.reported", events.encounter(encounter_id))
    [opened] = await bus.events("cases.opened", count=1,
                                where=lambda e: e["data"]["encounter_id"] == encounter_id)
    return str(opened["data"]["case_id"])


class Readers:
    """Who asks, through the dashboard's client (and raw, for what the client does not send)."""

    def __init__(self, client: httpx.AsyncClient, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = client
        self.reader = IdentityReader(self.base, CREDENTIAL, client)

    async def read(self, case_id: str, actor: str, role: str = "specialist") -> dict[str, Any] | None:
        return await self.reader.read(case_id, actor, role, via="dashboard_api")

    async def raw(self, case_id: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"{self.base}/internal/v1/cases/{case_id}/person", headers=headers)

    async def until_reader(self, case_id: str, actor: str) -> dict[str, Any]:
        async def granted() -> dict[str, Any] | None:
            return await self.read(case_id, actor)
        result: dict[str, Any] = await eventually(granted, timeout=20)
        return result

    async def until_refused(self, case_id: str, actor: str) -> None:
        async def refused() -> bool:
            return await self.read(case_id, actor) is None
        await eventually(refused, timeout=20)


async def test_only_the_accepting_specialist_of_an_open_case_reads_and_every_read_is_audited(
        settings, bus: Bus, mongo, logs) -> None:
    settings = with_credential(settings)
    port = free_port()
    async with bootstrap(settings, ops_port=port).app, httpx.AsyncClient(timeout=10) as client:
        who = Readers(client, port)
        case_id = await opened_case(bus, "ENC-who-reads")
        await bus.publish("referrals.events", as_referral(ev.assigned(case_id, "r1", "sp-1", at=at(1))))
        assert await who.read(case_id, "sp-1") is None  # assigned, not accepted: nobody yet
        await bus.publish("referrals.events", as_referral(
            ev.accepted(case_id, "r1", "sp-1", assigned_at=at(1), at=at(2))))

        granted = await who.until_reader(case_id, "sp-1")
        assert granted["case_id"] == case_id and granted["audit_id"]
        person = granted["person"]
        assert person["person"]["given_name"] == events.CANARY_GIVEN
        assert person["person"]["family_name"] == events.CANARY_FAMILY
        assert person["person"]["date_of_birth"] == events.CANARY_DOB
        assert person["person"]["contact"] == {"phone": events.CANARY_PHONE, "email": events.CANARY_EMAIL}

        assert await who.read(case_id, "sp-2") is None
        assert await who.read(case_id, "sup-1", "supervisor") is None
        assert await who.read(case_id, "sp-1", "analyst") is None
        refused = await who.raw(case_id, {"Authorization": f"Bearer {CREDENTIAL}", "X-Casework-Actor-Id": "sp-2",
                                          "X-Casework-Actor-Role": "specialist"})
        unknown = await who.raw("case-never-opened", {"Authorization": f"Bearer {CREDENTIAL}",
                                                      "X-Casework-Actor-Id": "sp-1",
                                                      "X-Casework-Actor-Role": "specialist"})
        assert (refused.status_code, refused.json()) == (unknown.status_code, unknown.json())
        assert refused.status_code == 403 and set(refused.json()) == {"detail"}
        actor = {"X-Casework-Actor-Id": "sp-1", "X-Casework-Actor-Role": "specialist"}
        assert (await who.raw(case_id, actor)).status_code == 401
        wrong = await who.raw(case_id, actor | {"Authorization": "Bearer cwv_not-it"})
        assert wrong.status_code == 401 and not leaks(wrong.text)
        try:
            await IdentityReader(who.base, "cwv_not-it", client).read(case_id, "sp-1", "specialist")
            raise AssertionError("a refused credential must not pass for a refused actor")
        except IdentityUnavailable as exc:
            assert "401" in str(exc)

        # A handover: the holder reads on until the new specialist accepts, then only the new one.
        offer = ev.assigned(case_id, "r2", "sp-2", at=at(10), attempt=2, reassigned_by=ev.specialist("sp-1"),
                            reason=ReassignmentReason.HANDOVER, handover_from="sp-1")
        await bus.publish("referrals.events", as_referral(offer))
        await eventually(lambda: _offer_folded(mongo, settings, case_id), timeout=20)
        assert (await who.read(case_id, "sp-1")) is not None and await who.read(case_id, "sp-2") is None
        await bus.publish("referrals.events", as_referral(
            ev.released(case_id, "r1", "sp-1", at=at(12), reason=ReleaseReason.HANDED_OVER)))
        await bus.publish("referrals.events", as_referral(
            ev.accepted(case_id, "r2", "sp-2", assigned_at=at(10), at=at(12))))
        await who.until_reader(case_id, "sp-2")
        assert await who.read(case_id, "sp-1") is None

        # A supervisor moves the case: the holder is refused at once, the new one until accepting.
        move = ev.assigned(case_id, "r3", "sp-3", at=at(20), attempt=3, reassigned_by=ev.supervisor(),
                           reason=ReassignmentReason.CONFLICT_OF_INTEREST, handover_from="sp-2")
        await bus.publish("referrals.events", as_referral(move))
        await who.until_refused(case_id, "sp-2")
        assert await who.read(case_id, "sp-3") is None
        await bus.publish("referrals.events", as_referral(
            ev.released(case_id, "r2", "sp-2", at=at(22), reason=ReleaseReason.REASSIGNED)))
        await bus.publish("referrals.events", as_referral(
            ev.accepted(case_id, "r3", "sp-3", assigned_at=at(20), at=at(22))))
        last = await who.until_reader(case_id, "sp-3")

        # Closed: nobody.
        await bus.publish("referrals.events", as_referral(
            ev.closed(case_id, at=at(30), by=ev.supervisor(), released="sp-3", referral_id="r3")))
        await who.until_refused(case_id, "sp-3")

        audit = [e["data"] for e in await bus.events("audit.events", timeout=5, settle=1.0)]
    records = [r for r in audit if r["case_id"] == case_id]
    assert all(r["via"] == "intake_vault" for r in records)
    grants = [r for r in records if r["outcome"] == "granted"]
    assert {r["audit_id"] for r in grants} >= {granted["audit_id"], last["audit_id"]}
    assert all(r["action"] == "identity.read" and r["actor"]["role"] == "specialist" for r in grants)
    assert {r["actor"]["id"] for r in grants} == {"sp-1", "sp-2", "sp-3"}
    refusals = [r for r in records if r["outcome"] == "refused"]
    assert all(r["action"] == "identity.refused" for r in refusals)
    seen = {(r["actor"]["id"], r["actor"]["role"]) for r in refusals}
    assert {("sp-2", "specialist"), ("sup-1", "supervisor"), ("sp-1", "analyst"), ("unknown", "anonymous"),
            ("sp-3", "specialist")} <= seen
    assert [r["outcome"] for r in audit if r["case_id"] == "case-never-opened"] == ["refused"]
    assert len(audit) == len(records) + 1

    for topic in QUIET_TOPICS:
        for record in await bus.read(topic, timeout=2):
            assert not leaks(record.value.decode() + repr(record.headers) + (record.key or b"").decode()), topic
    assert not leaks(logs.getvalue())
    assert "identity read" in logs.getvalue()
    holders = [d async for d in mongo[settings.database("intake")]["holders"].find()]
    assert holders and not leaks(json.dumps(holders, default=str))


async def _offer_folded(mongo, settings: Settings, case_id: str) -> bool:
    doc = await mongo[settings.database("intake")]["holders"].find_one({"_id": case_id})
    return bool(doc and (doc["state"].get("offer") or {}).get("referral_id") == "r2")


async def test_the_holders_survive_a_restart_and_a_redelivery_changes_nothing(
        settings, bus: Bus, mongo, proc_logs) -> None:
    settings = with_credential(settings)
    intake = ServiceProcess("intake", settings, proc_logs)
    intake.start()
    try:
        await intake.ready()
        async with httpx.AsyncClient(timeout=10) as client:
            who = Readers(client, intake.port)
            case_id = await opened_case(bus, "ENC-restart")
            story = [as_referral(ev.assigned(case_id, "r1", "sp-1", at=at(1))),
                     as_referral(ev.accepted(case_id, "r1", "sp-1", assigned_at=at(1), at=at(2)))]
            for event in story:
                await bus.publish("referrals.events", event)
            await who.until_reader(case_id, "sp-1")
            for event in story:  # delivered again, ids unchanged
                await bus.publish("referrals.events", event)

            intake.kill()  # SIGKILL: nothing flushed
            move = as_referral(ev.assigned(case_id, "r2", "sp-2", at=at(10), attempt=2,
                                           reassigned_by=ev.supervisor(), handover_from="sp-1"))
            await bus.publish("referrals.events", move)  # published while intake is down
            intake.start()
            await intake.ready()
            await who.until_refused(case_id, "sp-1")
            await bus.publish("referrals.events", as_referral(
                ev.released(case_id, "r1", "sp-1", at=at(12), reason=ReleaseReason.REASSIGNED)))
            await bus.publish("referrals.events", as_referral(
                ev.accepted(case_id, "r2", "sp-2", assigned_at=at(10), at=at(12))))
            await bus.publish("referrals.events", move)  # the move again, after the restart
            await who.until_reader(case_id, "sp-2")
            assert await who.read(case_id, "sp-1") is None
    finally:
        intake.stop()
    doc = await mongo[settings.database("intake")]["holders"].find_one({"_id": case_id})
    seen = doc["seen"]
    assert len(seen) == len(set(seen)) == 6  # opened, assigned, accepted, the move, released, accepted
    state = doc["state"]
    assert state["current"] == {"referral_id": "r2", "specialist_id": "sp-2", "accepted": True, "by_holder": False}
    assert state["offer"] is None and state["ended"] == ["r1"] and state["attempt"] == 2
    assert not leaks(intake.log())
