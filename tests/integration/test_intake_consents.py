"""The person's consents on the real broker and FerretDB: intake keeps each case's consents
from ``consents.recorded`` and ``consents.revoked`` — once per event across a redelivery and
a restart, a revocation also before its consent, one read again after a crash once — and
dead-letters what it cannot read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.app import bootstrap
from services.intake.consents import COLLECTION, CaseConsents, covering
from shared.contracts.inbound import ConsentScope, RecipientKind
from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

NOW = datetime.now(UTC)
BY = {"id": "vs-1", "role": "victim_specialist"}


def recorded(case_id: str, consent_id: str, form: str = "written") -> dict:
    data = {"case_id": case_id, "consent_id": consent_id, "recorded_by": BY, "scope": ["identity", "contact"],
            "recipient": {"kind": "service_provider", "id": "pr-shelter"}, "form": form,
            "given_at": (NOW - timedelta(hours=1)).isoformat(), "expires_at": (NOW + timedelta(days=30)).isoformat()}
    return events.cloudevent("casework.consent.recorded.v1", data, subject=case_id, source="casework/dashboard")


def revoked(case_id: str, consent_id: str) -> dict:
    data = {"case_id": case_id, "consent_id": consent_id, "revoked_by": BY, "at": NOW.isoformat()}
    return events.cloudevent("casework.consent.revoked.v1", data, subject=case_id, source="casework/dashboard")


async def test_consents_are_kept_once_revoked_in_any_order_and_bad_records_dead_lettered(
        settings, bus: Bus, mongo) -> None:
    collection = mongo[settings.database("intake")][COLLECTION]

    async def consents(case_id: str) -> CaseConsents | None:
        doc = await collection.find_one({"_id": case_id})
        return CaseConsents.model_validate(doc["state"]) if doc and doc.get("state") else None

    given = recorded("case-c", "c-1")
    async with bootstrap(settings).app:
        await bus.publish("consents.recorded", given)
        await bus.publish("consents.recorded", given)  # redelivered: the same event id
        await bus.publish("consents.recorded", b"{not json")
        await bus.publish("consents.recorded", recorded("case-c", "c-bad") | {"data": {"case_id": "case-c"}})
        await bus.publish("consents.revoked", revoked("case-early", "c-9"))  # before its consent
        await bus.publish("consents.recorded", recorded("case-c", "c-verbal", form="verbal"))

        async def kept() -> bool:
            file = await consents("case-c")
            return file is not None and set(file.consents) == {"c-1", "c-verbal"}
        await eventually(kept, timeout=30)
        doc = await collection.find_one({"_id": "case-c"})
        assert len(doc["seen"]) == 2  # the redelivery was dropped
        file = await consents("case-c")
        assert covering(file, RecipientKind.SERVICE_PROVIDER, "pr-shelter", ConsentScope.IDENTITY, NOW).consent_id \
            == "c-1"
        dead = await bus.read("consents.recorded.dlq", until=lambda recs: len(recs) >= 2)
        assert len(dead) == 2

    # Down for a while: a revocation and the early case's consent arrive; after the restart both apply.
    await bus.publish("consents.revoked", revoked("case-c", "c-1"))
    await bus.publish("consents.recorded", recorded("case-early", "c-9"))
    async with bootstrap(settings).app:
        async def applied() -> bool:
            file, early = await consents("case-c"), await consents("case-early")
            return bool(file and "c-1" in file.revoked and early and "c-9" in early.consents)
        await eventually(applied, timeout=30)
    file, early = await consents("case-c"), await consents("case-early")
    for kept_file in (file, early):
        assert covering(kept_file, RecipientKind.SERVICE_PROVIDER, "pr-shelter", ConsentScope.IDENTITY, NOW) is None
    assert not [c for c in events.CANARIES if c in str(await collection.find({}).to_list(None))]


async def test_a_revocation_redelivered_after_a_crash_and_retried_by_its_producer_is_applied_once(
        settings, bus: Bus, mongo, proc_logs) -> None:
    collection = mongo[settings.database("intake")][COLLECTION]

    async def stored() -> dict:
        return await collection.find_one({"_id": "case-d"})

    async with bootstrap(settings).app:
        await bus.publish("consents.recorded", recorded("case-d", "c-1"))
        await bus.publish("consents.recorded", recorded("case-d", "c-2"))
        await eventually(lambda: _holds(stored, "c-1", "c-2"), timeout=30)
    before = await stored()
    revocation = revoked("case-d", "c-1")
    intake = ServiceProcess("intake", settings, proc_logs, failpoints="after-write")
    try:
        intake.start()
        await intake.ready()
        await bus.publish("consents.revoked", revocation)
        assert await intake.wait_exit() == -9  # killed once the revocation is written, before the commit
        crashed = await stored()
        assert crashed["version"] == before["version"] + 1 and events.seen_as(revocation) in crashed["seen"]
        await bus.publish("consents.revoked", revocation)  # meanwhile its producer retried: the same event
        intake.start(failpoints="")  # reads the revocation's record again, from the same offset
        await intake.ready()
        await bus.publish("consents.revoked", revoked("case-d", "c-marker"))  # behind both, on the case's key

        async def marked() -> bool:
            doc = await stored()
            return "c-marker" in CaseConsents.model_validate(doc["state"]).revoked
        await eventually(marked, timeout=30)
    finally:
        intake.stop()
    after = await stored()
    assert after["version"] == crashed["version"] + 1  # the marker's write, and no other
    assert after["seen"].count(events.seen_as(revocation)) == 1
    file = CaseConsents.model_validate(after["state"])
    assert set(file.revoked) == {"c-1", "c-marker"} and file.consents["c-1"].revoked_at is not None
    assert set(file.timers) == {"c-2#remind", "c-2#lapse"}  # c-1's disarmed, c-2's kept


async def _holds(stored, *consent_ids: str) -> bool:
    doc = await stored()
    return bool(doc and set(consent_ids) <= set(CaseConsents.model_validate(doc["state"]).consents))
