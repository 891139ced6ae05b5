"""``casework status rebuild``: a fresh read model from the topics, through the same fold.

1. Refuse while a status service runs (its writes would race the rebuild).
2. Remember the snapshots the current read model gives, then drop it.
3. Read every input topic from the beginning up to its current end, with a consumer of
   its own (no group: the service's committed offsets are left as they are), and feed
   the events through the service's own ``decide``, the kit's Workflow and its outbox.
4. Compare the rebuilt snapshots with the remembered ones.

Snapshots are published again (unless ``publish=False``). The fold is indifferent to the
order in which the topics interleave (see :mod:`.domain`), so each case's last snapshot
comes out field for field as the live one, same ``version`` and ``updated_at``: consumers
that keep the highest version see no change. (Intermediate versions may differ in number
when the live run saw the topics in another order; their ids derive from the input event
ids, so where the order was the same they are exact duplicates.)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import logging as caselog
from shared.kit.inbound import Inbound, Skip, TopicReader
from shared.kit.ports import RawRecord
from shared.kit.service import Service
from shared.kit.workflow import Workflow
from shared.settings import Settings
from shared.topicread import read_to_end

from . import casefile, domain, sources
from .app import INSTANCES, projection
from .state import CaseView

log = caselog.get_logger("casework.status.rebuild")
BATCH = 500


class ServiceRunning(RuntimeError):
    """A status service is consuming: stop it before rebuilding."""


@dataclass
class Report:
    events: int = 0
    skipped: int = 0  # other types, dropped T/U events, deliveries without a case
    invalid: int = 0  # unreadable records (the live service dead-lettered them)
    cases: int = 0
    identical: int = 0
    differing: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # had a snapshot before, none now
    new: list[str] = field(default_factory=list)


async def rebuild(settings: Settings, *, publish: bool = True, force: bool = False) -> Report:
    service = Service("status", settings, publisher=None if publish else Discarding())
    flow = projection(service)
    if not force and (busy := await running_instances(service)):
        await service.mongo.close()
        raise ServiceRunning(f"status service instance(s) {', '.join(busy)} running: stop them first")
    collection = service.db[casefile.COLLECTION]
    report = Report()
    try:
        before = await snapshots(collection)
        await collection.drop()
        await flow.store.ensure_indexes()
        if publish:
            await service.broker.start()  # no subscribers: only the producer
        try:
            await replay(settings, flow, report)
        finally:
            if publish:
                await service.broker.stop()
        after = await snapshots(collection)
    finally:
        await service.mongo.close()
    compare(before, after, report)
    log.info("status read model rebuilt", events=report.events, cases=report.cases,
             identical=report.identical, differing=len(report.differing))
    return report


async def running_instances(service: Service) -> list[str]:
    """Status services that reported in recently (see :func:`services.status.app.report_in`)."""
    horizon = datetime.now(UTC) - timedelta(seconds=service.settings.status.alive_seconds)
    return [doc["_id"] async for doc in service.db[INSTANCES].find({}) if doc.get("seen_at") and
            doc["seen_at"].replace(tzinfo=UTC) >= horizon]


async def replay(settings: Settings, flow: Workflow[CaseView], report: Report) -> None:
    """Every input topic up to the end offsets seen now; what comes later the restarted service takes."""
    readers = {settings.topic(p[0].TOPIC): TopicReader(p[0].TOPIC, p, strict_types=False,
                                                       max_bytes=settings.kit.max_message_bytes)
               for p in sources.INPUTS}
    topics = [p[0].TOPIC for p in sources.INPUTS]
    async with aclosing(read_to_end(settings, topics, principal="status", client_id="casework-status-rebuild",
                                    max_records=BATCH)) as read:
        async for records in read:
            events = _read(readers, records, report)
            if events:
                await flow.handle(events)
                report.events += len(events)


def _read(readers: dict[str, TopicReader], records: list[Any], report: Report) -> list[Inbound]:
    out = []
    for record in records:
        try:
            event = readers[record.topic].read(record)
        except Skip:
            report.skipped += 1
            continue
        except (ValueError, RecursionError):  # unreadable: the live service dead-lettered it
            report.invalid += 1
            continue
        if sources.kept(event.data):
            out.append(event)
        else:
            report.skipped += 1
    return out


async def snapshots(collection: Any) -> dict[str, dict[str, Any]]:
    """Every opened case's snapshot as the read model gives it (an operator-time full read)."""
    found = {}
    async for doc in collection.find({}, {"state": 1}):
        view = CaseView.model_validate(doc["state"]) if doc.get("state") else None
        if view is not None and view.opened is not None:
            found[doc["_id"]] = domain.snapshot(view).model_dump(mode="json")
    return found


def compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], report: Report) -> None:
    report.cases = len(after)
    report.identical = sum(1 for k, v in after.items() if before.get(k) == v)
    report.differing = sorted(k for k, v in after.items() if k in before and before[k] != v)
    report.missing = sorted(set(before) - set(after))
    report.new = sorted(set(after) - set(before))


class Discarding:
    """A publisher that sends nothing: ``--no-publish`` rebuilds compare only."""

    async def send(self, entries: Sequence[dict[str, Any]]) -> int:
        return len(entries)

    async def send_raw(self, records: Sequence[RawRecord]) -> None:
        return None

