"""``decide`` per event, one guarded write per aggregate, then the outbox.

See docs/design.md, "The reliable-processing kit". A batch of events is grouped by
aggregate. For each aggregate the stored state is read once, every event not yet in its
``seen`` list goes through the pure ``decide`` in order, and the result — new state, the
ids of the events applied, the events to publish and the next timer — is written in one
document update guarded by ``version``. All the batch's writes go in one ``bulk_write``;
the new events then go out in one batched publish. An aggregate whose version moved
meanwhile is decided again from what is stored. Timers come due through :meth:`sweep`
and outboxes a crash left behind go out through :meth:`relay`, both the same path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic

from pydantic import BaseModel

from shared import logging as caselog
from shared.cloudevents import derived_id, encode, new_event
from shared.contracts.common import Payload
from shared.kit.cache import RecordCache
from shared.kit.clock import Clock
from shared.kit.decision import Decide, Decision, S
from shared.kit.failpoints import failpoint
from shared.kit.inbound import Inbound, TimerFired
from shared.kit.locks import AggregateLocks
from shared.kit.metrics import METRICS
from shared.kit.outbox import entry, log_published
from shared.kit.outcomes import ConcurrencyConflict, Poison
from shared.kit.ports import AggregateStore, Loads, Publisher
from shared.kit.records import DueTimer, Record, Stamp, Write
from shared.kit.watermarks import Watermarks

MAX_CONFLICT_ROUNDS = 8
SWEEP_LIMIT = 500
SETTLE_MARGIN_SECONDS = 2.0  # a reader waits at most the gather and this for what was received

log = caselog.get_logger("casework.kit")


@dataclass
class Change(Generic[S]):
    """What one aggregate became in this batch, before it is written."""

    id: str
    before: S | None
    after: S | None
    emitted: list[Payload]
    write: Write


# Effects on other documents that must hold before the write; returns ids to decide again.
BeforeWrite = Callable[[list[Change[Any]]], Awaitable[set[str]]]
# I/O a decision asked for, once it is durably written (a mail to send, say): called with
# the changes just written, before their outbox is published. Best kept short (hand the
# work to a task): if it raises, the batch is retried as already applied.
AfterWrite = Callable[[list[Change[Any]]], Awaitable[None]]


Joined = tuple[list[Inbound], "asyncio.Future[list[Poison]]"]


def by_subject(event: Inbound) -> str:
    """The default aggregate of an event: its payload's subject (the case id)."""
    return str(event.data.subject)


@dataclass(frozen=True, eq=False)
class Workflow(Generic[S]):
    """The kit's processing path for one collection of aggregates of one service."""

    service: str
    state_type: type[S]
    decision: Decision[S]
    store: AggregateStore
    publisher: Publisher
    clock: Clock
    source: str
    aggregate_id: Callable[[Inbound], str] = by_subject
    before_write: BeforeWrite | None = None
    after_write: AfterWrite | None = None
    # How long after a write a sweep looks whether its outbox went out (a crash in between).
    relay_after: timedelta = timedelta(seconds=5)
    # Seconds a batch waits, with every batch that comes meanwhile, to be written with them (read
    # models off the critical path: one write for a case's events from several topics, at the
    # cost of that much latency); 0: written at once.
    gather: float = 0.0
    # FerretDB (SQLite) applies an update as read, modify, replace by _id: two concurrent
    # updates of one document both match a ``version`` guard and the later one wins, even
    # on disjoint fields. So this process never has two writes of one aggregate in flight
    # (subscribers of several topics, the sweeper and the relay share one workflow): one
    # batch at a time, or with ``per_aggregate`` batches of disjoint aggregates at once
    # (:mod:`.locks`); the version guard still protects against other processes on MongoDB
    # proper. Anything else that writes these documents holds :attr:`writing`.
    per_aggregate: bool = False
    locks: AggregateLocks = field(init=False, repr=False)
    # Aggregates whose outbox could not be published (the broker was away): retried by
    # :meth:`retry_unpublished`, and by the next event for the same aggregate.
    unpublished: set[str] = field(default_factory=set, repr=False)
    # Writes that failed with no answer (landed or not?): stamp -> aggregate, resolved by
    # :meth:`retry_unpublished` (a write of Kafka records has no relay hint to do it).
    uncertain: dict[Stamp, str] = field(default_factory=dict, repr=False)
    # Which stored outboxes are known to be out: this run's and the other writers'.
    watermarks: Watermarks = field(init=False, repr=False)

    # Batches waiting to be written together with whatever batch comes first (see :meth:`handle`).
    joining: list[Joined] = field(default_factory=list, repr=False)
    # Batches handed to :meth:`handle` and not answered yet (see :meth:`settled`).
    received: list[Joined] = field(default_factory=list, repr=False)
    # While a batch waits out ``gather``, the batches that come meanwhile wait with it.
    window: asyncio.Future[None] | None = field(default=None, repr=False)
    # What this process read or wrote last, per aggregate (see :mod:`.cache`).
    cache: RecordCache = field(default_factory=RecordCache, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "watermarks", Watermarks(self.service))
        object.__setattr__(self, "locks", AggregateLocks(per_aggregate=self.per_aggregate))

    @property
    def writing(self) -> AbstractAsyncContextManager[None]:
        """Write any of the workflow's documents, alone (an ``update_many``, say)."""
        return self.locks.everything()

    async def keep_watermarks(self, *, others: bool = True) -> None:
        """Save this run's watermark; read the other writers' (at start, then now and then)."""
        await self.watermarks.save(self.store, self.clock.now())
        if others:
            await self.watermarks.load(self.store)

    async def handle(self, events: Sequence[Inbound]) -> list[Poison]:
        """Decide and write these events; their poisons come back.

        Group commit: batches that arrive while another is being written (the subscribers of
        several topics, a recorder's outcomes) wait together and go in one round, so an
        aggregate touched by all of them is written once, not once each.
        """
        mine: Joined = (list(events), asyncio.get_running_loop().create_future())
        first = not self.joining
        self.joining.append(mine)
        self.received.append(mine)
        try:
            return await self._joined(mine, first)
        finally:  # answered, failed or cancelled: no longer waiting, nor to be taken along
            self.received.remove(mine)
            if any(joined is mine for joined in self.joining):
                self.joining.remove(mine)

    async def _joined(self, mine: Joined, first: bool) -> list[Poison]:
        if first and self.gather > 0:
            await self._gathering()  # the other topics' batches of the window join this one
        elif self.window is not None:
            await asyncio.shield(self.window)  # a window is open: this batch goes with it
        waited = time.perf_counter()
        if self.per_aggregate:  # taken at once; it waits only for writes of the same aggregates
            if not any(joined is mine for joined in self.joining):
                return await asyncio.shield(mine[1])  # another batch took this one along
            group = self.joining[:]
            self.joining.clear()
            try:
                async with self.locks.of(self._aggregate_of(e) for events, _ in group for e in events):
                    self._took("lock", waited)
                    await self._handle_group(group, mine)
            except BaseException as exc:  # also a cancellation while waiting: the others hear of it
                for joined in group:
                    if joined is not mine and not joined[1].done():
                        joined[1].set_exception(exc if isinstance(exc, Exception) else
                                                ConcurrencyConflict("the batch taking this one along stopped"))
                raise
            return mine[1].result()
        async with self.writing:
            self._took("lock", waited)
            if not mine[1].done():
                group = self.joining[:]
                self.joining.clear()
                await self._handle_group(group, mine)
        return mine[1].result()

    async def settled(self, ids: Iterable[str], timeout: float) -> None:
        """Until what this process has received for these aggregates is written (a gather may
        hold it a while), at most ``timeout`` seconds: a reader that must see it waits."""
        wanted = set(ids)
        waiting = [done for events, done in self.received
                   if not done.done() and any(self._aggregate_of(e) in wanted for e in events)]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)

    def settled_reads(self) -> Loads:
        """The store for readers outside the workflow whose answer must include what it received."""
        return SettledReads(self, self.gather + SETTLE_MARGIN_SECONDS)

    async def _gathering(self) -> None:
        window: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        object.__setattr__(self, "window", window)
        try:
            await asyncio.sleep(self.gather)
        finally:
            object.__setattr__(self, "window", None)
            window.set_result(None)

    async def _handle_group(self, group: list[Joined], mine: Joined) -> None:
        try:
            poisons = await self._handle([e for events, _ in group for e in events])
        except BaseException as exc:
            for joined in group:
                if joined is not mine and not joined[1].done():
                    joined[1].set_exception(exc)  # raised where that batch waits
            raise
        by_event = {p.event.identity: p for p in poisons}
        for events, done in group:
            if not done.done():  # a batch that was cancelled meanwhile wants no answer
                done.set_result([by_event[e.identity] for e in events if e.identity in by_event])

    async def _handle(self, events: Sequence[Inbound]) -> list[Poison]:
        pending = _group(events, self._aggregate_of)
        poisons: dict[str, Poison] = {}
        for round_ in range(MAX_CONFLICT_ROUNDS):
            now, began = self.clock.now(), time.perf_counter()
            decide = await self.decision.for_batch(_flatten(pending))
            records = self._remembered(pending) if round_ == 0 else await self._load(list(pending))
            known = dict(poisons)
            changes = [c for aggregate_id, group in pending.items()
                       if (c := self._apply(aggregate_id, records.get(aggregate_id), group, decide, now, known))]
            # An aggregate taken for new without reading it (the first round) may well exist: an
            # event that could not be decided against nothing is decided again against what is stored.
            guessed = {a for p in known.values() if (a := self._aggregate_of(p.event)) not in records
                       } if round_ == 0 else set()
            poisons.update({k: p for k, p in known.items() if self._aggregate_of(p.event) not in guessed})
            changes = [c for c in changes if c.id not in guessed]
            began = self._took("decide", began)
            redo = await self.before_write(changes) if self.before_write and changes else set()
            began = self._took("before_write", began) if self.before_write and changes else began
            ready = [c for c in changes if c.id not in redo]
            redo |= await self._write([c.write for c in ready]) | guessed
            began = self._took("write", began) if ready else began
            written = [c for c in ready if c.id not in redo]
            if written:  # something landed: the window between a write and its publish
                failpoint("after-write")
            if self.after_write and written:
                await self.after_write(written)
                began = self._took("after_write", began)
            # A redelivered batch changes nothing, but what a failed publish left is sent now.
            changed = {c.id for c in changes}
            leftovers = [r.as_write(now) for i, r in records.items()
                         if r.outbox and i not in changed and not self.watermarks.covers(r.stamp)]
            await self.publish([c.write for c in written] + leftovers)
            self._took("publish", began)
            if not redo:
                return list(poisons.values())
            METRICS.conflicts.labels(self.service).inc(len(redo))
            pending = {k: v for k, v in pending.items() if k in redo}
        raise ConcurrencyConflict(f"{len(pending)} aggregate(s) kept changing; batch retried")

    def _took(self, stage: str, since: float) -> float:
        """Note how long ``stage`` took (``casework_workflow_stage_seconds``); return now."""
        now = time.perf_counter()
        METRICS.stage.labels(self.service, stage).observe(now - since)
        return now

    def _remembered(self, ids: Iterable[str]) -> dict[str, Record]:
        """The first round reads nothing: what this process wrote last, else a new aggregate."""
        return {i: r for i in ids if (r := self.cache.get(i)) is not None}

    async def _load(self, ids: list[str]) -> dict[str, Record]:
        records = await self.store.load(ids)
        self.cache.forget(ids)
        for record in records.values():
            self.cache.put(record)
        return records

    async def _write(self, writes: list[Write]) -> set[str]:
        """Stamp and write; a write that failed half-way stays open until a relay sweep
        finds out whether it landed (its hint was noted before it)."""
        for write in writes:
            write.stamp = self.watermarks.stamp(waits=bool(write.outbox))
        try:
            redo = await self.store.write(writes)
        except BaseException:
            self.cache.forget(w.id for w in writes)  # landed or not: read afresh next time
            self.uncertain.update((w.stamp, w.id) for w in writes if w.outbox and w.stamp)
            raise
        self.watermarks.settled([w.stamp for w in writes if w.id in redo])
        self.cache.forget(redo)
        for write in writes:
            if write.id not in redo:
                self.cache.wrote(write)
        return redo

    async def publish(self, writes: Iterable[Write]) -> None:
        """Send what these writes put in their outboxes. The entries stay in the documents
        (no second write): the next write of the aggregate leaves out what is confirmed."""
        writes = [w for w in writes if w.outbox]
        if not writes:
            return
        entries = [e for w in writes for e in w.outbox]
        try:
            sent = await self.publisher.send(entries)
        except Exception:
            self.unpublished.update(w.id for w in writes)
            METRICS.outbox_backlog.labels(self.service).set(len(self.unpublished))
            raise
        failpoint("after-publish")  # the broker has them; the watermark does not say so yet
        self.watermarks.settled([s for w in writes for s in (w.stamp, w.carried)])
        self.unpublished.difference_update(w.id for w in writes)
        METRICS.outbox_backlog.labels(self.service).set(len(self.unpublished))
        METRICS.published.labels(self.service).inc(sent)
        log_published(self.service, entries)

    async def retry_unpublished(self) -> int:
        """Publish again what a failed publish left in this process's aggregates, and find out
        whether the writes that failed half-way landed (their stamps wait till then)."""
        if not self.unpublished and not self.uncertain:
            return 0
        async with self.writing:
            uncertain = dict(self.uncertain)
            records = await self._load(sorted(self.unpublished | set(uncertain.values())))
            self.unpublished.intersection_update(records)
            await self.publish(r.as_write(self.clock.now()) for r in records.values()
                               if r.id in self.unpublished or (r.outbox and not self.watermarks.covers(r.stamp)))
            self.watermarks.settled(list(uncertain))  # landed and now published, or never landed
            for stamp in uncertain:
                self.uncertain.pop(stamp, None)
        return len(records)

    async def sweep(self, limit: int = SWEEP_LIMIT) -> int:
        """Fire every timer due now and relay every outbox a crash may have left, up to
        ``limit`` hints at a time until none is due; return how many timers fired.

        ``TimerFired`` carries a deterministic id through the same ``decide`` path, so two
        sweepers, or one that crashed half-way, fire each timer once. An outbox this process
        saw published is not looked at again; any other is published again (consumers
        de-duplicate: a re-send is harmless, a loss is not).
        """
        fired = 0
        while True:
            now = self.clock.now()
            hints = await self.store.timers.due(now, limit)
            METRICS.timers_due.labels(self.service).set(len(hints))
            if not hints:
                return fired
            fired += await self._swept(hints)
            # complete: everything due by ``now`` (not by the end of the handling) was handled
            await self.store.timers.done(hints, now, complete=len(hints) < limit)
            if len(hints) < limit:
                return fired

    async def _swept(self, hints: list[DueTimer]) -> int:
        now = self.clock.now()
        wanted = {h.aggregate_id for h in hints if not (h.relay and self.watermarks.covers(h.relay))}
        if not wanted:
            return 0
        async with self.locks.of(wanted):
            records = await self._load(sorted(wanted))
            events = [e for r in records.values() for e in self._due_timers(r, now)]
            if events:
                await self._handle(events)
                METRICS.timers_fired.labels(self.service).inc(len(events))
            relayed = {h.aggregate_id for h in hints if h.relay} - {e.subject for e in events}
            await self.publish(r.as_write(now) for i, r in records.items() if i in relayed and r.outbox
                               and not self.watermarks.covers(r.stamp))
            # A hint whose write is not (or no longer) what is stored: that write left nothing to send.
            self.watermarks.settled([h.relay for h in hints if h.relay and (
                h.aggregate_id not in records or records[h.aggregate_id].stamp != h.relay)])
        return len(events)

    def _due_timers(self, record: Record, now: datetime) -> list[Inbound]:
        timers: dict[str, datetime] = getattr(self._state(record), "timers", None) or {}
        due = sorted((at, name) for name, at in timers.items() if at <= now)
        return [Inbound.timer(record.id, name, at) for at, name in due]

    def _aggregate_of(self, event: Inbound) -> str:
        if isinstance(event.data, TimerFired) or event.data is None:
            return event.subject or ""
        return self.aggregate_id(event)

    def _apply(self, aggregate_id: str, record: Record | None, events: list[Inbound],
               decide: Decide[S], now: datetime, poisons: dict[str, Poison]) -> Change[S] | None:
        before = state = self._state(record)
        seen = list(record.seen) if record else []
        done = set(seen)
        # What the last write put out, unless known to be out: sent again with this one.
        resend = record is not None and bool(record.outbox) and not self.watermarks.covers(record.stamp)
        outbox = list(record.outbox) if record and resend else []
        carried = record.stamp if record and resend else None
        emitted: list[Payload] = []
        applied: list[str] = []
        from_kafka = True
        for event in events:
            if event.identity in done or event.identity in poisons:
                continue
            if isinstance(event.data, TimerFired):
                state, due = _take_timer(state, event.data, now)
                if not due:
                    continue
            try:
                state, produced = decide(state, event, now)
            except Exception as exc:  # decide is pure: an error is about this event, not infra
                # its (source, id) identity, not its id: a CloudEvent id is any printable text
                log.error("event could not be decided", service=self.service, event_id=event.identity,
                          event_type=event.type, aggregate=aggregate_id, exc_info=exc)
                if not isinstance(event.data, TimerFired):
                    poisons[event.identity] = Poison(event, exc)
                    continue
                produced = ()  # a failing timer is dropped (logged), or it would fire forever
            for index, payload in enumerate(produced):
                event_id = derived_id(event.identity, index, by=self.service)
                outbox.append(self._outbox_entry(payload, event_id, now, event))
            emitted.extend(produced)
            seen.append(event.identity)
            done.add(event.identity)
            applied.append(event.identity)
            from_kafka = from_kafka and event.partition >= 0
        if not applied:
            return None
        # A write made of Kafka records needs no relay hint: until its outbox is out, the offsets
        # are not committed, and whoever reads the records again sends what it left.
        relay_at = now + self.relay_after if outbox and not from_kafka else None
        write = Write(aggregate_id, record.version if record else 0,
                      state.model_dump(mode="json") if state is not None else None,
                      seen, outbox, next_due(state), now, applied, record.due_at if record else None,
                      relay_at=relay_at, carried=carried)
        return Change(aggregate_id, before, state, emitted, write)

    def _state(self, record: Record | None) -> S | None:
        if record is None or record.state is None:
            return None
        return self.state_type.model_validate(record.state)

    def _outbox_entry(self, payload: Payload, event_id: str, now: datetime, cause: Inbound) -> dict[str, Any]:
        event = new_event(payload, event_id=event_id, source=self.source, time=now,
                          correlation_id=cause.correlation_id or cause.id)
        METRICS.emitted.labels(self.service, payload.TYPE).inc()
        return entry(event_id, payload.TOPIC, payload.subject, encode(event), event.correlationid, payload.TYPE)


@dataclass(frozen=True)
class SettledReads:
    """Loads a workflow's aggregates once the batches it received for them are written."""

    flow: Workflow[Any]
    wait: float

    async def load(self, ids: Sequence[str]) -> dict[str, Record]:
        await self.flow.settled(ids, self.wait)
        return await self.flow.store.load(ids)


def next_due(state: BaseModel | None) -> datetime | None:
    """The earliest of the state's timers: states keep them as ``timers: {name: due_at}``."""
    timers = getattr(state, "timers", None)
    return min(timers.values()) if timers else None


def _take_timer(state: S | None, fired: TimerFired, now: datetime) -> tuple[S | None, bool]:
    """Remove a timer that is really due; a stale or re-armed one is not fired."""
    timers: dict[str, datetime] = getattr(state, "timers", None) or {}
    due_at = timers.get(fired.name)
    if state is None or due_at is None or due_at != fired.due_at or due_at > now:
        return state, False
    rest = {k: v for k, v in timers.items() if k != fired.name}
    return state.model_copy(update={"timers": rest}), True


def _group(events: Iterable[Inbound], key: Callable[[Inbound], str]) -> dict[str, list[Inbound]]:
    groups: dict[str, list[Inbound]] = {}
    for event in events:
        groups.setdefault(key(event), []).append(event)
    return groups


def _flatten(groups: dict[str, list[Inbound]]) -> list[Inbound]:
    return [e for group in groups.values() for e in group]
