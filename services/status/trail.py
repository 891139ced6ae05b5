"""The audit trail as the auditors read it: ``audit.events`` kept in the ``audit`` collection.

One document per record, its ``_id`` the record's ``audit_id``: a record read twice (a
redelivery, a replay) is stored once. Only the status service reads ``audit.events``,
and only auditors read this collection (``GET /api/audit``, the ``/audit`` page).
Records hold ids, roles, actions, outcomes and times: no PII.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared import mongo
from shared.contracts.audit import AuditRecorded
from shared.contracts.common import IDENTIFIER_MAX_LENGTH
from shared.kit import Inbound
from shared.kit.outcomes import Poison
from shared.mongo import DUPLICATE_KEY, MAX_INSERTS_PER_COMMAND, bulk_write, chunks

COLLECTION = "audit"
# For MongoDB; FerretDB (SQLite) reads the collection for any query but by ``_id``.
INDEXES = [IndexModel([("at", DESCENDING), ("_id", DESCENDING)], name="newest"),
           IndexModel([("case_id", ASCENDING), ("at", DESCENDING)], name="by_case"),
           IndexModel([("actor.id", ASCENDING), ("at", DESCENDING)], name="by_actor")]
MAX_LIMIT = 500
MAX_OFFSET = 100_000
FILTERS = ("case_id", "actor", "since", "until")


@dataclass(frozen=True)
class TrailQuery:
    """Which records: of one case, of one actor, within a time span (both ends included)."""

    case_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TrailQuery:
        """From a form's fields, as the audit page's filters send them (empty: no filter);
        a value that does not parse raises ValueError naming its field."""
        def text(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            if len(value) > IDENTIFIER_MAX_LENGTH:
                raise ValueError(f"{name}: at most {IDENTIFIER_MAX_LENGTH} characters")
            return value or None

        def moment(name: str) -> datetime | None:
            value = text(name)
            try:
                return utc(datetime.fromisoformat(value)) if value else None
            except ValueError:
                raise ValueError(f"{name}: not a date and time (YYYY-MM-DDTHH:MM)") from None

        def number(name: str, default: int, low: int, high: int) -> int:
            value = text(name)
            if value is None:
                return default
            if not value.isdigit() or not low <= int(value) <= high:
                raise ValueError(f"{name}: a whole number from {low} to {high}")
            return int(value)

        return cls(case_id=text("case_id"), actor=text("actor"), since=moment("since"), until=moment("until"),
                   limit=number("limit", 100, 1, MAX_LIMIT), offset=number("offset", 0, 0, MAX_OFFSET))

    def where(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.case_id:
            found["case_id"] = self.case_id
        if self.actor:
            found["actor.id"] = self.actor
        span = {op: utc(moment) for op, moment in (("$gte", self.since), ("$lte", self.until)) if moment}
        if span:
            found["at"] = span
        return found


def utc(moment: datetime) -> datetime:
    """A time given without a zone is UTC (the trail's, and the dashboard's, only zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def document(record: AuditRecorded) -> dict[str, Any]:
    return {"_id": record.audit_id, "actor": {"id": record.actor.id, "role": record.actor.role.value},
            "action": record.action.value, "outcome": record.outcome.value, "at": record.at,
            "case_id": record.case_id, "via": record.via, "event_id": record.event_id,
            **disclosure_of(record)}


def disclosure_of(record: AuditRecorded) -> dict[str, Any]:
    """A disclosure's request, the scopes it showed and why it showed none (when it is one)."""
    found = {"service_request_id": record.service_request_id, "refusal": record.refusal,
             "scopes": [s.value for s in record.scopes] if record.scopes is not None else None}
    return {k: v for k, v in found.items() if v is not None}


def entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored record as the API gives it."""
    return {"audit_id": doc["_id"], "actor": doc["actor"], "action": doc["action"], "outcome": doc["outcome"],
            "at": utc(doc["at"]).isoformat(), "case_id": doc.get("case_id"), "via": doc["via"],
            "event_id": doc.get("event_id"),
            **{k: doc[k] for k in ("service_request_id", "scopes", "refusal") if doc.get(k) is not None}}


async def keep(collection: AsyncCollection[dict[str, Any]], events: list[Inbound]) -> list[Poison]:
    """Store each record once (a record already there is left as it is)."""
    docs = list({e.data.audit_id: document(e.data) for e in events}.values())
    for chunk in chunks(docs, MAX_INSERTS_PER_COMMAND):
        try:
            await bulk_write(collection, [InsertOne(d) for d in chunk], ordered=False)
        except BulkWriteError as exc:
            others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
            if others:
                raise
    return []


async def find(collection: AsyncCollection[dict[str, Any]], query: TrailQuery) -> tuple[list[dict[str, Any]], bool]:
    """The matching records, newest first, one page; and whether there are more after it."""
    cursor = collection.find(query.where()).sort([("at", DESCENDING), ("_id", DESCENDING)])
    docs = await cursor.skip(query.offset).limit(query.limit + 1).to_list(None)
    return [entry(d) for d in docs[:query.limit]], len(docs) > query.limit


async def ensure_indexes(collection: AsyncCollection[dict[str, Any]]) -> None:
    await mongo.ensure_indexes(collection, INDEXES)
