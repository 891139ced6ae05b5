"""The notify service's own records of people and cases, kept from the topics it reads.

* ``contacts``: the roster (``roster.specialists``, compacted; a tombstone removes), as
  much as delivery needs: role, regions, agency, duty, e-mail and webhook.
* ``cases``: per case, what routing needs and the events may not repeat: region, agency,
  and which specialist holds the case now (from the referral and plan events).

Both are plain idempotent upserts applied in topic order: a redelivered batch writes the
same values again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, DeleteOne, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.inbound import SpecialistRegistered
from shared.contracts.intake import CaseOpened
from shared.contracts.referrals import CaseUnassigned, ReferralAccepted, ReferralAssigned
from shared.contracts.stabilization import PlanEvent
from shared.kit import Inbound
from shared.kit.inbound import TopicReader
from shared.mongo import bulk_write, chunks, find_by_ids
from shared.settings import Settings
from shared.topicread import events_to_end

from .audience import Contact, Directory

ROSTER = TopicReader(SpecialistRegistered.TOPIC, (SpecialistRegistered,), strict_types=True, tombstones=True)


def case_facts(payload: Any) -> dict[str, Any] | None:
    """The update an event makes to its case's routing record, if any."""
    if isinstance(payload, CaseOpened):
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id}}
    if isinstance(payload, ReferralAssigned | ReferralAccepted):
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id,
                         "specialist_id": payload.specialist_id}}
    if isinstance(payload, CaseUnassigned):
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id, "specialist_id": None}}
    if isinstance(payload, PlanEvent) and payload.specialist_id:
        return {"$set": {"specialist_id": payload.specialist_id}}
    return None


class DirectoryStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.contacts = db["contacts"]
        self.cases = db["cases"]

    async def ensure_indexes(self) -> None:
        await self.contacts.create_indexes([IndexModel([("role", ASCENDING), ("on_duty", ASCENDING)],
                                                       name="on_duty_by_role")])

    async def apply_roster(self, events: Sequence[Inbound]) -> list[Any]:
        ops: list[Any] = []
        for event in events:
            if event.data is None:
                ops.append(DeleteOne({"_id": event.subject}))
            else:
                contact = Contact.of(event.data)
                ops.append(UpdateOne({"_id": contact.id}, {"$set": contact.model_dump(mode="json", exclude={"id"})},
                                     upsert=True))
        for chunk in chunks(ops):  # in topic order: the last word wins
            await bulk_write(self.contacts, chunk, ordered=True)
        return []

    async def note_cases(self, events: Iterable[Inbound]) -> None:
        ops = [UpdateOne({"_id": e.data.case_id}, update, upsert=True)
               for e in events if (update := case_facts(e.data)) is not None]
        for chunk in chunks(ops):
            await bulk_write(self.cases, chunk, ordered=True)

    async def directory_for(self, payloads: Sequence[Any]) -> Directory:
        """Everything the batch's recipients are chosen from, in three reads."""
        case_ids = sorted({p.case_id for p in payloads if getattr(p, "case_id", None)})
        cases = await find_by_ids(self.cases, case_ids)
        holders = {c: d["specialist_id"] for c, d in cases.items() if d.get("specialist_id")}
        named = sorted({s for p in payloads if (s := getattr(p, "specialist_id", None)) is not None}
                       | set(holders.values()))
        contacts = [Contact(id=d.pop("_id"), **d) for d in (await find_by_ids(self.contacts, named)).values()]
        supervisors = await self._contacts({"role": "supervisor", "on_duty": True})
        return Directory(contacts={c.id: c for c in contacts}, supervisors=tuple(supervisors),
                         case_specialists=holders,
                         case_regions={c: d["region"] for c, d in cases.items() if d.get("region")})

    async def contact(self, recipient_id: str) -> Contact | None:
        found = await self._contacts({"_id": recipient_id})
        return found[0] if found else None

    async def _contacts(self, query: dict[str, Any]) -> list[Contact]:
        return [Contact(id=d.pop("_id"), **d) async for d in self.contacts.find(query).sort("_id", 1)]

    async def load_roster(self, settings: Settings) -> int:
        """Read the whole compacted roster before consuming anything else, so the first
        notifications after a start find their recipients."""
        events = await events_to_end(settings, ROSTER, client_id="casework-notify-roster")
        await self.apply_roster(events)
        return len(events)
