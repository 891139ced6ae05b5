"""Notify's case records on the real database: a case's opening is inserted, a record that
exists already (a redelivery, a referral event read first) is updated instead, and a
decision that needs a case whose write is under way waits for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient

from services.notify.audience import Directory
from services.notify.directory import DirectoryStore
from shared.contracts.common import AgencyLevel, Priority
from shared.contracts.intake import CaseOpened, Screening
from shared.contracts.referrals import ReferralAssigned
from shared.kit import Inbound
from shared.settings import Settings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(data: object, event_id: str) -> Inbound:
    return Inbound(id=event_id, type=getattr(data, "TYPE", "internal"), data=data, source="test")


def opened(case_id: str, region: str = "US-TX") -> Inbound:
    return event(CaseOpened(case_id=case_id, encounter_id="E", agency_id="TX-DPS", agency_level=AgencyLevel.STATE,
                            officer_id="o", region=region, occurred_at=T0, opened_at=T0, languages=["es"],
                            interpreter_needed=False, urgent_needs=[], priority=Priority.NORMAL, minor=False,
                            screening=Screening(categories={}, indicator_count=0)), f"open-{case_id}")


def assigned(case_id: str, specialist_id: str) -> Inbound:
    return event(ReferralAssigned(case_id=case_id, agency_id="TX-DPS", region="US-TX", priority=Priority.NORMAL,
                                  escalations=0, referral_id=f"ref-{case_id}", specialist_id=specialist_id,
                                  assigned_at=T0, ack_due_at=T0 + timedelta(hours=1), attempt=1,
                                  language_match=True), f"assigned-{case_id}")


async def stored(mongo: AsyncMongoClient, settings: Settings, case_id: str) -> dict[str, object] | None:
    return await mongo[settings.database("notify")]["cases"].find_one({"_id": case_id}, {"_id": 0})


async def test_an_opening_is_inserted_and_a_record_that_exists_is_updated_not_lost(
        settings: Settings, mongo: AsyncMongoClient) -> None:
    db = mongo[settings.database("notify")]
    store = DirectoryStore(db)
    # an opening and its assignment in one batch: one record with both
    await store.note_cases([opened("case-a"), assigned("case-a", "vs-1")])
    assert await stored(mongo, settings, "case-a") == {"region": "US-TX", "agency_id": "TX-DPS",
                                                       "specialist_id": "vs-1"}
    # the referral event read first, the opening after (another topic): the opening's insert
    # finds the record and updates it; the holder is kept
    await store.note_cases([assigned("case-b", "vs-2")])
    later = DirectoryStore(db)  # a restarted notify: nothing in memory
    await later.note_cases([opened("case-b")])
    assert await stored(mongo, settings, "case-b") == {"region": "US-TX", "agency_id": "TX-DPS",
                                                       "specialist_id": "vs-2"}
    # a redelivered opening after a restart changes nothing
    again = DirectoryStore(db)
    await again.note_cases([opened("case-a")])
    assert (await stored(mongo, settings, "case-a") or {}).get("specialist_id") == "vs-1"
    await mongo.drop_database(settings.database("notify"))


async def test_a_decision_waits_for_the_write_of_the_case_it_needs(
        settings: Settings, mongo: AsyncMongoClient) -> None:
    db = mongo[settings.database("notify")]
    store = DirectoryStore(db)
    await store.note_cases([assigned("case-c", "vs-3")])  # known in memory to nobody: a fresh store below
    fresh = DirectoryStore(db)
    writing = fresh.note_cases([assigned("case-c", "vs-4")])  # the holder changes; the write is under way
    directory: Directory = await fresh.directory_for([_needing("case-c")])
    assert directory.case_specialists == {"case-c": "vs-4"}
    await writing
    assert (await stored(mongo, settings, "case-c") or {}).get("specialist_id") == "vs-4"
    await mongo.drop_database(settings.database("notify"))


class _needing:
    """A payload that names its case and neither a specialist nor a region: its recipients
    are chosen from the case's record."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
