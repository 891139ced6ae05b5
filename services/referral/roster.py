"""The roster as the referral service keeps it: one document per specialist, from the topic.

``roster.specialists`` is compacted and keyed by specialist id: the last registration
wins and a null value (tombstone) removes the specialist; ``shared.registry`` records each,
guarded by its offset, so a replay or a late duplicate never overwrites something newer. At
every start the whole topic is read again
(:meth:`RosterStore.read_topic`), so the roster is rebuilt from the topic whatever the
database holds. Only what matching needs
is kept: no names, e-mail addresses or phone numbers (P3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared import logging as caselog
from shared import registry
from shared.contracts.inbound import SpecialistRole
from shared.kit import Clock, Inbound
from shared.kit.inbound import TopicReader
from shared.languages import primary_language
from shared.settings import Settings
from shared.topicread import events_to_end

from .matching import Roster, Specialist, Supervisor

log = caselog.get_logger("casework.referral.roster")
KEPT = ("agency_id", "languages", "regions", "role", "on_duty", "max_active_cases")


class RosterStore:
    """The roster as stored, cached for ``fresh_for``: every batch needs it, it rarely changes,
    and another instance may be the one consuming the roster topic."""

    def __init__(self, collection: AsyncCollection, clock: Clock, fresh_for: timedelta = timedelta(seconds=5)) -> None:
        self.collection = collection
        self.clock = clock
        self.fresh_for = fresh_for
        self._cached: dict[str, dict[str, Any]] | None = None
        self._read_at: datetime | None = None
        self._changes = 0  # registrations applied by this process: a read begun before one is stale

    async def _docs(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now()
        if self._cached is None or self._read_at is None or now - self._read_at > self.fresh_for:
            changes = self._changes
            docs = {d["_id"]: d async for d in self.collection.find({})}
            if changes != self._changes:  # the roster changed while it was read: read it again
                return await self._docs()
            self._cached, self._read_at = docs, now
        return self._cached

    async def apply(self, events: Iterable[Inbound]) -> list[str]:
        """Record registrations and removals; return the ids of the specialists touched."""
        self._changes += 1
        touched = await registry.apply(self.collection, events, KEPT)
        self._changes += 1
        self._cached = None  # the next batch reads the change (a departure above all)
        return touched

    async def snapshot(self, loads: Mapping[str, tuple[int, Any]], held: Mapping[str, str]) -> Roster:
        """The victim specialists now on the roster, with their current loads and holds; the supervisors."""
        docs = [d for d in (await self._docs()).values() if not d.get("removed")]
        specialists = [_specialist(doc, loads.get(doc["_id"], (0, None))) for doc in docs
                       if doc.get("role") == SpecialistRole.VICTIM_SPECIALIST.value]
        supervisors = [Supervisor(doc["_id"], str(doc.get("agency_id", "")), tuple(doc.get("regions", ())))
                       for doc in docs if doc.get("role") == SpecialistRole.SUPERVISOR.value]
        return Roster.of(specialists, held, supervisors)

    async def capacity(self, specialist_id: str) -> int:
        doc = (await self._docs()).get(specialist_id)
        return 0 if not doc or doc.get("removed") else int(doc.get("max_active_cases", 0))

    async def read_topic(self, settings: Settings, reader: TopicReader) -> list[Inbound]:
        """The whole compacted topic, read once before consuming it (start-up)."""
        events = await events_to_end(settings, reader, principal="referral", client_id="casework-referral-roster")
        log.info("roster read from the topic", records=len(events))
        return events


def _specialist(doc: dict[str, Any], load: tuple[int, Any]) -> Specialist:
    return Specialist(specialist_id=doc["_id"], languages=frozenset(primary_language(t) for t in doc["languages"]),
                      regions=tuple(doc["regions"]), on_duty=bool(doc["on_duty"]),
                      max_active_cases=int(doc["max_active_cases"]), load=load[0], last_assigned_at=load[1],
                      agency_id=str(doc.get("agency_id", "")))

