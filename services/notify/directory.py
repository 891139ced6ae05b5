"""The notify service's own records of people and cases, kept from the topics it reads.

* ``contacts``: the roster (``roster.specialists``, compacted; a tombstone removes), as
  much as delivery needs: role, regions, agency, duty, e-mail and webhook.
* ``cases``: per case, what routing needs and the events may not repeat: region, agency,
  and which specialist holds the case now (from the referral and plan events).
* ``providers``: the support-service providers' contacts (``providers.registered``,
  compacted; a tombstone removes), kept by ``shared.registry`` (offset-guarded: a replay
  never overwrites something newer): e-mail, webhook and name, nothing else.

These are idempotent writes applied in topic order: a redelivered batch writes the same
values again. All are also kept in memory, for what every batch needs: the roster and the
providers read again at most every ``FRESH_SECONDS`` (another instance may be the one
consuming their topics), a case's record written only when it changes and trusted for
``FRESH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from pymongo import ASCENDING, DeleteOne, IndexModel, InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared import registry
from shared.contracts.inbound import SpecialistRegistered
from shared.contracts.intake import CaseCorrected, CaseOpened
from shared.contracts.notifications import RecipientRole
from shared.contracts.referrals import CaseUnassigned, HolderKept, ReferralAccepted, ReferralAssigned
from shared.contracts.stabilization import PlanEvent
from shared.kit import Inbound
from shared.kit.inbound import TopicReader
from shared.mongo import DUPLICATE_KEY, MAX_INSERTS_PER_COMMAND, bulk_write, chunks, ensure_indexes, find_by_ids
from shared.settings import Settings
from shared.topicread import events_to_end

from .audience import Contact, Directory

ROSTER = TopicReader(SpecialistRegistered.TOPIC, (SpecialistRegistered,), strict_types=True, tombstones=True)
PROVIDER_KEPT = ("name", "email", "webhook_url")  # how to reach a provider; not what it offers or where


def case_facts(payload: Any) -> dict[str, Any] | None:
    """The update an event makes to its case's routing record, if any."""
    if isinstance(payload, CaseOpened | CaseCorrected):
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id}}
    if isinstance(payload, ReferralAssigned) and payload.handover_from is not None:
        # A handover: the holder stays responsible (and is told what comes) until the new one accepts.
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id,
                         "specialist_id": payload.handover_from}}
    if isinstance(payload, ReferralAssigned | ReferralAccepted | HolderKept):
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id,
                         "specialist_id": payload.specialist_id}}
    if isinstance(payload, CaseUnassigned):
        return {"$set": {"region": payload.region, "agency_id": payload.agency_id, "specialist_id": None}}
    if isinstance(payload, PlanEvent) and payload.specialist_id:
        return {"$set": {"specialist_id": payload.specialist_id}}
    return None


# The payload fields that name a specialist a notification may go to.
NAMED = ("specialist_id", "released_specialist_id", "previous_specialist_id", "handover_from")
FRESH_SECONDS = 5.0
CASES_KEPT = 20_000
ROUTING = {"region", "agency_id", "specialist_id"}  # everything a case's record holds


def merged(facts: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    return facts | update["$set"]


def needs_case_record(payload: Any) -> bool:
    """Whether choosing this event's recipients needs its case's record: it names no specialist
    or no region of its own."""
    named = getattr(payload, "specialist_id", None) and getattr(payload, "region", None)
    return bool(getattr(payload, "case_id", None)) and not named


class DirectoryStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], clock: Callable[[], float] = time.monotonic) -> None:
        self.contacts = db["contacts"]
        self.cases = db["cases"]
        self.providers = db["providers"]
        self.clock = clock
        self._roster: dict[str, Contact] = {}
        self._roster_read_at = -FRESH_SECONDS
        self._providers: dict[str, Contact] = {}
        self._providers_read_at = -FRESH_SECONDS
        self._facts: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()  # case -> (read at, record)
        self._writing: dict[str, asyncio.Future[None]] = {}  # case -> its record's write under way

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.contacts, [IndexModel([("role", ASCENDING), ("on_duty", ASCENDING)],
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
        self._roster_read_at = -FRESH_SECONDS  # read again, with this change, when next needed
        return []

    async def apply_providers(self, events: Sequence[Inbound]) -> list[Any]:
        await registry.apply(self.providers, events, PROVIDER_KEPT)
        self._providers_read_at = -FRESH_SECONDS
        return []

    def note_cases(self, events: Iterable[Inbound]) -> asyncio.Future[None]:
        """Write each case's routing record where these events change it (in topic order), one
        write per case; what is known not to change it is not written again.

        The memory changes at once and the write starts at once, so the batch's own decisions
        need not wait for it: whatever reads a case whose write is under way waits for that
        write (:meth:`_case_records`). The caller awaits the returned write before its offsets
        are committed. A case's opening is an insert (the cheap write): its record is new, and
        then known exactly; should it exist already (a redelivery, a referral event read
        first), it is updated instead.
        """
        changes: dict[str, tuple[bool, dict[str, Any]]] = {}  # case -> (opened here, the fields to set)
        for event in events:
            update = case_facts(event.data)
            if update is None:
                continue
            case_id = event.data.case_id
            entry = self._facts.get(case_id)
            if entry is not None and merged(entry[1], update) == entry[1]:
                continue
            opening, fields = changes.get(case_id, (entry is None and isinstance(event.data, CaseOpened)
                                                    and case_id not in self._writing, {}))
            changes[case_id] = (opening, merged(fields, update))
            if entry is not None:
                self._facts[case_id] = (entry[0], merged(entry[1], update))
            elif set(update["$set"]) >= ROUTING:  # a referral event names all a record holds: known now
                self._remember(case_id, dict(update["$set"]), self.clock())
        if not changes:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        # One case's writes one after the other (the same document is never written twice at once).
        before = {self._writing[c] for c in changes if c in self._writing}
        task = asyncio.ensure_future(self._write_cases(changes, before))
        for case_id in changes:
            self._writing[case_id] = task
        task.add_done_callback(partial(self._written, list(changes)))
        return task

    def _written(self, case_ids: list[str], task: asyncio.Future[None]) -> None:
        for case_id in case_ids:
            if self._writing.get(case_id) is task:
                del self._writing[case_id]
        # retrieved here too: the caller may have stopped waiting (its batch failed)
        if task.cancelled() or task.exception() is not None:
            for case_id in case_ids:  # what memory holds was not stored: read it again next time
                self._facts.pop(case_id, None)

    async def _write_cases(self, changes: dict[str, tuple[bool, dict[str, Any]]],
                           before: set[asyncio.Future[None]]) -> None:
        if before:
            await asyncio.gather(*before, return_exceptions=True)
        openings = [(c, fields) for c, (opening, fields) in changes.items() if opening]
        existed: set[str] = set()
        for chunk in chunks(openings, MAX_INSERTS_PER_COMMAND):
            try:
                await bulk_write(self.cases, [InsertOne({"_id": c, **fields}) for c, fields in chunk], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                existed |= {chunk[e["index"]][0] for e in errors}
        now, this = self.clock(), asyncio.current_task()
        for case_id, fields in openings:  # what was inserted is the whole record, unless written since
            if case_id not in existed and self._writing.get(case_id) is this:
                self._remember(case_id, dict(fields), now)
        updated = {c: fields for c, (opening, fields) in changes.items() if not opening or c in existed}
        for updates in chunks([UpdateOne({"_id": c}, {"$set": fields}, upsert=True) for c, fields in updated.items()]):
            await bulk_write(self.cases, updates, ordered=True)

    async def directory_for(self, payloads: Sequence[Any]) -> Directory:
        """Everything the batch's recipients are chosen from (from memory, mostly)."""
        cases = await self._case_records(sorted({p.case_id for p in payloads if needs_case_record(p)}))
        roster = await self._contacts()
        holders = {c: d["specialist_id"] for c, d in cases.items() if d.get("specialist_id")}
        named = {s for p in payloads for field in NAMED if (s := getattr(p, field, None)) is not None}
        named |= set(holders.values())
        rostered = [c for _, c in sorted(roster.items()) if c.role == "supervisor"]
        wanted = {i for p in payloads if (i := getattr(p, "provider_id", None)) is not None}
        providers = await self._provider_contacts() if wanted else {}
        return Directory(contacts={i: roster[i] for i in named if i in roster},
                         supervisors=tuple(c for c in rostered if c.on_duty), rostered=tuple(rostered),
                         case_specialists=holders,
                         case_regions={c: d["region"] for c, d in cases.items() if d.get("region")},
                         case_agencies={c: d["agency_id"] for c, d in cases.items() if d.get("agency_id")},
                         providers={i: providers[i] for i in wanted if i in providers})

    async def contact(self, recipient_id: str, role: str | None = None) -> Contact | None:
        """How to reach a recipient now: a provider from the directory, anyone else from the roster."""
        if role == RecipientRole.SERVICE_PROVIDER:
            return (await self._provider_contacts()).get(recipient_id)
        return (await self._contacts()).get(recipient_id)

    async def _contacts(self) -> dict[str, Contact]:
        if self.clock() - self._roster_read_at >= FRESH_SECONDS:
            self._roster = {d["_id"]: Contact(id=d.pop("_id"), **d) async for d in self.contacts.find({})}
            self._roster_read_at = self.clock()
        return self._roster

    async def _provider_contacts(self) -> dict[str, Contact]:
        """The directory is small (an area's providers): read whole, at most every ``FRESH_SECONDS``."""
        if self.clock() - self._providers_read_at >= FRESH_SECONDS:
            self._providers = {str(d["_id"]): Contact.provider(str(d["_id"]), d.get("email"), d.get("webhook_url"))
                               async for d in self.providers.find({"removed": False})}
            self._providers_read_at = self.clock()
        return self._providers

    async def _case_records(self, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        under_way = {self._writing[c] for c in case_ids if c in self._writing}
        if under_way:  # a batch's own writes come first: what it noted is then in memory or stored
            await asyncio.gather(*under_way, return_exceptions=True)
        now = self.clock()
        known = {c: entry[1] for c in case_ids if (entry := self._facts.get(c)) and now - entry[0] < FRESH_SECONDS}
        missing = [c for c in case_ids if c not in known]
        if missing:
            found = await find_by_ids(self.cases, missing)
            for case_id in missing:
                record = {k: v for k, v in found.get(case_id, {}).items() if k != "_id"}
                if case_id in found:
                    known[case_id] = record
                if case_id not in self._writing:  # a write begun meanwhile may have changed it
                    self._remember(case_id, record, now)
        return known

    def _remember(self, case_id: str, record: dict[str, Any], now: float) -> None:
        self._facts[case_id] = (now, record)
        self._facts.move_to_end(case_id)
        while len(self._facts) > CASES_KEPT:
            self._facts.popitem(last=False)

    async def load_roster(self, settings: Settings) -> int:
        """Read the whole compacted roster before consuming anything else, so the first
        notifications after a start find their recipients."""
        events = await events_to_end(settings, ROSTER, principal="notify", client_id="casework-notify-roster")
        await self.apply_roster(events)
        return len(events)

    async def load_providers(self, settings: Settings) -> int:
        """The same for the provider directory, so a request sent just after a start finds its provider."""
        changed = await registry.caught_up(self.providers, registry.PROVIDERS, PROVIDER_KEPT, settings,
                                           principal="notify")
        self._providers_read_at = -FRESH_SECONDS
        return len(changed)
