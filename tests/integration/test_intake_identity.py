"""An encounter is its agency's: ``(agency.id, encounter_id)``; an event is its source's: ``(source, id)``."""

from __future__ import annotations

from services.intake import domain
from services.intake.app import bootstrap
from tests.support import events
from tests.support.kafka import Bus

TX = {"id": "TX-DPS", "name": "Texas DPS", "level": "state"}
CA = {"id": "CA-HP", "name": "California Highway Patrol", "level": "state"}


async def test_two_agencies_numbering_alike_get_two_cases_and_a_repeat_gets_none(settings, bus: Bus) -> None:
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", events.encounter("E-1001", agency=TX))
        await bus.publish("encounters.reported", events.encounter("E-1001", agency=CA))
        await bus.publish("encounters.reported", events.encounter("E-1001", agency=TX))  # the same, again
        opened = await bus.events("cases.opened", count=2, settle=2.0)
    assert sorted(e["data"]["agency_id"] for e in opened) == ["CA-HP", "TX-DPS"]
    assert len({e["data"]["case_id"] for e in opened}) == 2


async def test_one_event_id_from_two_sources_is_two_encounters(settings, bus: Bus) -> None:
    """Two agencies' systems that both number their events ``17``: neither blocks the other."""
    first = events.encounter("E-7", agency=TX, event_id="17")
    second = events.encounter("E-8", agency=CA, event_id="17") | {"source": "agency/CA-HP"}
    later = events.encounter("E-9", agency=TX)
    async with bootstrap(settings).app:
        for event in (first, second, later):
            await bus.publish("encounters.reported", event)
        opened = await bus.events("cases.opened", count=3, settle=1.0)
        dead = await bus.read("encounters.reported.dlq", timeout=1)
    assert sorted(e["data"]["encounter_id"] for e in opened) == ["E-7", "E-8", "E-9"]
    assert dead == []


async def test_cases_opened_before_the_change_are_found_by_their_encounter(settings, bus: Bus, mongo) -> None:
    db = mongo[settings.database("intake")]
    state = {"case_id": "case-legacy-1", "encounter_id": "E-OLD", "agency_id": "TX-DPS", "region": "US-TX",
             "opened_at": "2026-01-02T03:04:05Z", "opened_by_event": "ev-1", "priority": "normal",
             "minor": False, "vault": {"key_id": "k", "nonce": "n", "ciphertext": "c"}, "reports": 1}
    await db["cases"].insert_one({"_id": "E-OLD", "version": 1, "state": state, "seen": ["ev-1"], "outbox": []})
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", events.encounter("E-OLD", agency=TX))
        await bus.publish("encounters.reported", events.encounter("E-NEW", agency=TX))
        opened = await bus.events("cases.opened", count=1, settle=2.0)
    assert [e["data"]["encounter_id"] for e in opened] == ["E-NEW"]  # the old one was known already
    moved = await db["cases"].find_one({"_id": domain.encounter_key("TX-DPS", "E-OLD")})
    assert moved["state"]["case_id"] == "case-legacy-1" and moved["state"]["reports"] == 2
    assert await db["cases"].find_one({"_id": "E-OLD"}) is None
    assert "case_id" in await db["cases"].index_information()
