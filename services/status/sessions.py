"""Signed-in browsers' sessions, kept on the server (starsessions' ``SessionStore`` port).

The browser holds only a random session id (an HttpOnly cookie); what the session says —
whose it is, its CSRF token, when it began and was last used — stays here. A session
ends after ``idle`` without a request, or ``absolute`` after it began however active it
is, or when its holder signs out. An ended session stays ended: a write still on its way
from a request that read it before cannot bring it back.

Two adapters keep the same promises (one behaviour suite runs on both,
``tests/support/session_behaviour.py``): :class:`MongoSessionStore` on the status
database (collection ``sessions``) and :class:`MemorySessionStore` for the unit tier.
FerretDB has no TTL indexes, so the expiry is checked on every read and ended sessions
are swept away by the dashboard's session check (:meth:`sweep`).

Only a digest of each session id is stored: the database's contents open no session.
"""

from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from starsessions import SessionStore

from shared.kit import Clock

COLLECTION = "sessions"
# An ended session's record is kept this long before the sweep removes it, so that a
# request still holding it cannot write it back into being.
SWEEP_GRACE = timedelta(minutes=5)
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")  # starsessions' ids: 16 random bytes, hex


class SessionState(BaseModel):
    """What a session holds: whose it is (a token's name and configured entry, never the
    token), its CSRF token, when it began and when it was last used."""

    principal: str = Field(max_length=100)
    entry: str = Field(max_length=64)
    csrf: str = Field(min_length=32, max_length=128)
    created_at: AwareDatetime
    seen_at: AwareDatetime


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, idle_seconds: float, absolute_seconds: float) -> Lifetimes:
        return cls(timedelta(seconds=idle_seconds), timedelta(seconds=absolute_seconds))


def key(session_id: str) -> str | None:
    """The stored name of a session: a digest of its id (None for what is no session id)."""
    if not _SESSION_ID.fullmatch(session_id or ""):
        return None
    return hashlib.sha256(session_id.encode()).hexdigest()


def alive(idle_until: datetime, ends_at: datetime, now: datetime) -> bool:
    return now < idle_until and now < ends_at


class SweptSessionStore(SessionStore):
    """starsessions' port, with the sweep that removes ended sessions for good."""

    @abc.abstractmethod
    async def sweep(self) -> int:
        """Forget the sessions that ended a while ago (``SWEEP_GRACE``); how many."""


@dataclass
class _Entry:
    data: bytes
    created_at: datetime
    idle_until: datetime
    ends_at: datetime


class MemorySessionStore(SweptSessionStore):
    """The unit tier's sessions: a dictionary with the database store's promises."""

    def __init__(self, clock: Clock, lifetimes: Lifetimes) -> None:
        self.clock, self.lifetimes = clock, lifetimes
        self.entries: dict[str, _Entry] = {}

    async def read(self, session_id: str, lifetime: int) -> bytes:
        entry = self.entries.get(key(session_id) or "")
        if entry is None or not alive(entry.idle_until, entry.ends_at, self.clock.now()):
            return b""
        return entry.data

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: int) -> str:
        name, now = key(session_id), self.clock.now()
        if name is None:
            return session_id
        entry = self.entries.get(name)
        if entry is None:
            self.entries[name] = _Entry(data, now, now + self.lifetimes.idle, now + self.lifetimes.absolute)
        elif alive(entry.idle_until, entry.ends_at, now):
            entry.data, entry.idle_until = data, now + self.lifetimes.idle
        return session_id

    async def remove(self, session_id: str) -> None:
        entry = self.entries.get(key(session_id) or "")
        if entry is not None:
            entry.data, entry.idle_until = b"", min(entry.idle_until, self.clock.now())

    async def sweep(self) -> int:
        cutoff = self.clock.now() - SWEEP_GRACE
        gone = [name for name, e in self.entries.items() if not alive(e.idle_until, e.ends_at, cutoff)]
        for name in gone:
            del self.entries[name]
        return len(gone)


class MongoSessionStore(SweptSessionStore):
    """Sessions on MongoDB or FerretDB: one document per session, read and written by ``_id``
    (no other index: the sweep, which reads them all, is rare and the collection small)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock, lifetimes: Lifetimes) -> None:
        self.collection, self.clock, self.lifetimes = collection, clock, lifetimes

    async def read(self, session_id: str, lifetime: int) -> bytes:
        name = key(session_id)
        doc = await self.collection.find_one({"_id": name}) if name else None
        if doc is None or not alive(doc["idle_until"], doc["ends_at"], self.clock.now()):
            return b""
        return str(doc["data"]).encode()

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: int) -> str:
        """Insert a new session or update a live one; an ended one matches nothing and its
        ``_id`` refuses the insert the upsert would make."""
        name, now = key(session_id), self.clock.now()
        if name is None:
            return session_id
        try:
            await self.collection.update_one(
                {"_id": name, "idle_until": {"$gt": now}, "ends_at": {"$gt": now}},
                {"$set": {"data": data.decode(), "seen_at": now, "idle_until": now + self.lifetimes.idle},
                 "$setOnInsert": {"created_at": now, "ends_at": now + self.lifetimes.absolute}},
                upsert=True)
        except DuplicateKeyError:
            pass  # ended: it stays ended
        return session_id

    async def remove(self, session_id: str) -> None:
        name = key(session_id)
        if name:
            await self.collection.update_one({"_id": name, "idle_until": {"$gt": self.clock.now()}},
                                             {"$set": {"data": "", "idle_until": self.clock.now()}})

    async def sweep(self) -> int:
        cutoff = self.clock.now() - SWEEP_GRACE
        result = await self.collection.delete_many({"$or": [{"idle_until": {"$lte": cutoff}},
                                                            {"ends_at": {"$lte": cutoff}}]})
        return result.deleted_count
