"""The kit's behaviour suite: one test body per promise, run on every implementation of a port.

``tests/unit/test_kit_memory.py`` runs it on the in-memory fakes (milliseconds, no servers);
``tests/integration/test_kit_ferretdb.py`` runs the same bodies on FerretDB. A subclass
provides the ``store`` fixture; nothing here knows which backend it talks to.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from shared.contracts.common import Identifier, Payload
from shared.kit import FakeClock, Inbound, TimerFired
from shared.kit.decision import Pure
from shared.kit.memory import RecordingPublisher
from shared.kit.outcomes import ConcurrencyConflict, Refused
from shared.kit.ports import AggregateStore
from shared.kit.records import Hint, Stamp, Write
from shared.kit.workflow import MAX_CONFLICT_ROUNDS, Change, Workflow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def write(aggregate_id: str, expected: int = 0, *, applied: Sequence[str] = ("e1",), seen: Sequence[str] | None = None,
          outbox: Sequence[dict[str, Any]] = (), due_at: datetime | None = None, previous_due: datetime | None = None,
          now: datetime = T0, **state: Any) -> Write:
    return Write(aggregate_id, expected, {"n": expected + 1, **state}, list(seen if seen is not None else applied),
                 list(outbox), due_at, now, list(applied), previous_due)


def out(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "topic": "cases.opened", "key": "case-1", "value": "{}", "correlation_id": event_id,
            "type": "casework.test.v1"}


class StoreBehaviour:
    """What every :class:`shared.kit.ports.AggregateStore` promises."""

    async def test_a_new_aggregate_is_written_once_and_read_back(self, store: AggregateStore) -> None:
        assert await store.write([write("a", outbox=[out("o1")], due_at=T0 + timedelta(minutes=5))]) == set()
        record = (await store.load(["a", "missing"]))["a"]
        assert (record.version, record.state, record.seen) == (1, {"n": 1}, ["e1"])
        assert [e["id"] for e in record.outbox] == ["o1"] and record.due_at == T0 + timedelta(minutes=5)
        assert list(await store.load(["missing"])) == []

    async def test_inserting_an_aggregate_that_exists_is_a_conflict(self, store: AggregateStore) -> None:
        await store.write([write("a")])
        assert await store.write([write("a", applied=["e2"], tag="other")]) == {"a"}
        assert (await store.load(["a"]))["a"].state == {"n": 1}

    async def test_an_update_over_a_stale_version_is_a_conflict(self, store: AggregateStore) -> None:
        await store.write([write("a")])
        await store.write([write("a", 1, applied=["e2"], seen=["e1", "e2"])])
        assert await store.write([write("a", 1, applied=["e3"], seen=["e1", "e3"])]) == {"a"}
        stored = (await store.load(["a"]))["a"]
        assert (stored.version, stored.seen) == (2, ["e1", "e2"])

    async def test_a_stale_update_whose_events_are_already_stored_is_not_redone(self, store: AggregateStore) -> None:
        # Someone deciding the same event got there first: the events are in, nothing to redo.
        await store.write([write("a")])
        await store.write([write("a", 1, applied=["e2"], seen=["e1", "e2"])])
        assert await store.write([write("a", 1, applied=["e2"], seen=["e1", "e2"])]) == set()
        assert await store.write([write("gone", 3, applied=["e9"])]) == {"gone"}

    async def test_a_large_batch_reports_exactly_its_conflicts(self, store: AggregateStore) -> None:
        await store.write([write(f"a{i}") for i in range(0, 25, 2)])  # the even ones exist
        writes = [write(f"a{i}", 1 if i % 2 == 0 else 0, applied=[f"x{i}"], seen=["e1", f"x{i}"]) for i in range(25)]
        writes += [write("a3", 0, applied=["y"]), write("a4", 7, applied=["y"])]
        assert await store.write(writes) == {"a3", "a4"}  # a3 inserted twice; a4 far behind
        assert {i for i, r in (await store.load([f"a{i}" for i in range(25)])).items() if r.version == 2} == {
            f"a{i}" for i in range(0, 25, 2)}

    async def test_a_write_notes_its_timer_and_its_outbox_before_it_lands(self, store: AggregateStore) -> None:
        relay_at, due = T0 + timedelta(seconds=5), T0 + timedelta(minutes=3)
        await store.write([write("a", outbox=[out("o1")], due_at=due), write("b", due_at=due)])
        await store.write([Write("c", 0, {}, ["e1"], [out("o2")], None, T0, ["e1"], relay_at=relay_at,
                                 stamp=Stamp("writer-1", 7))])
        assert [(t.aggregate_id, t.relay) for t in await store.timers.due(relay_at, 10)] == [
            ("c", Stamp("writer-1", 7))]
        assert sorted((t.aggregate_id, t.relay is not None) for t in await store.timers.due(due, 10)) == [
            ("a", False), ("b", False), ("c", True)]

    async def test_watermarks_only_rise(self, store: AggregateStore) -> None:
        await store.save_watermark("w1", 5, T0)
        await store.save_watermark("w1", 3, T0)
        await store.save_watermark("w2", 1, T0)
        assert await store.load_watermarks() == {"w1": 5, "w2": 1}

    async def test_a_write_a_unique_index_refuses_is_refused_for_good(self, unique_store: AggregateStore) -> None:
        await unique_store.write([write("a", code="C-1")])
        with pytest.raises(Refused):
            await unique_store.write([write("b", code="C-1"), write("c", code="C-2")])
        assert set(await unique_store.load(["a", "b", "c"])) == {"a", "c"}  # the rest is written
        with pytest.raises(Refused):
            await unique_store.write([write("c", 1, applied=["e2"], seen=["e1", "e2"], code="C-1")])
        assert await unique_store.write([write("a", applied=["again"], code="C-1")]) == {"a"}  # a conflict still

    async def test_wake_arms_a_timer_on_the_matching_aggregates_and_moves_their_version(
            self, store: AggregateStore) -> None:
        await store.write([write("a", status="unassigned"), write("b", status="assigned"),
                           write("c", status="unassigned", timers={"ack": "2026-03-02T10:00:00Z"})])
        assert await store.wake({"state.status": "unassigned"}, "retry", T0) == 2
        woken = await store.load(["a", "b", "c"])
        assert {i: r.version for i, r in woken.items()} == {"a": 2, "b": 1, "c": 2}
        assert woken["c"].state is not None and set(woken["c"].state["timers"]) == {"ack", "retry"}
        assert woken["a"].due_at == T0
        assert await store.write([write("a", 1, applied=["late"])]) == {"a"}  # decided before the wake
        assert {t.aggregate_id for t in await store.timers.due(T0, 10)} == {"a", "c"}


class TimerIndexBehaviour:
    """What every :class:`shared.kit.ports.TimerIndex` promises (through a store's ``timers``)."""

    async def test_a_timer_is_due_only_once_its_time_has_come(self, store: AggregateStore) -> None:
        index = store.timers
        await index.note([Hint("late", T0 + timedelta(minutes=9), T0), Hint("soon", T0 + timedelta(minutes=2), T0),
                          Hint("soon", T0 + timedelta(minutes=2), T0)])
        assert await index.due(T0 + timedelta(minutes=1), 10) == []
        due = await index.due(T0 + timedelta(minutes=3), 10)
        assert [t.aggregate_id for t in due] == ["soon"]  # noted twice, due once
        await index.done(due, T0 + timedelta(minutes=3), complete=True)
        assert await index.due(T0 + timedelta(minutes=4), 10) == []
        assert [t.aggregate_id for t in await index.due(T0 + timedelta(minutes=10), 10)] == ["late"]

    async def test_hints_noted_at_once_into_one_second_are_all_kept(self, store: AggregateStore) -> None:
        """Writes of different aggregates may overlap (``per_aggregate``), and a sweep's ``done``
        runs beside them: their hints share one second's document, and none may be lost."""
        index = store.timers
        at = T0 + timedelta(seconds=30)
        await index.note([Hint("gone", at, T0)])
        gone = await index.due(at, 10)
        await asyncio.gather(*(index.note([Hint(f"h{i}", at, T0)]) for i in range(12)),
                             index.done(gone, at, complete=False))
        assert sorted(t.aggregate_id for t in await index.due(at, 50)) == sorted(f"h{i}" for i in range(12))

    async def test_due_timers_come_oldest_first_and_limited(self, store: AggregateStore) -> None:
        index = store.timers
        await index.note([Hint(f"a{i}", T0 + timedelta(seconds=50 - i), T0) for i in range(6)])
        due = await index.due(T0 + timedelta(minutes=2), 4)
        assert [t.aggregate_id for t in due] == ["a5", "a4", "a3", "a2"]
        await index.done(due, T0 + timedelta(minutes=2), complete=False)
        assert [t.aggregate_id for t in await index.due(T0 + timedelta(minutes=2), 4)] == ["a1", "a0"]

    async def test_a_timer_noted_after_its_time_is_still_found(self, store: AggregateStore) -> None:
        index = store.timers
        await index.note([Hint("a", T0, T0)])
        await index.done(await index.due(T0, 10), T0, complete=True)  # the sweeps have moved on
        await index.note([Hint("b", T0 - timedelta(minutes=30), T0 + timedelta(minutes=1))])
        assert [t.aggregate_id for t in await index.due(T0 + timedelta(minutes=1), 10)] == ["b"]

    async def test_a_timer_that_came_due_while_a_sweep_handled_others_is_found_next(
            self, store: AggregateStore) -> None:
        index = store.timers
        await index.note([Hint("first", T0, T0), Hint("meanwhile", T0 + timedelta(seconds=10), T0)])
        due = await index.due(T0 + timedelta(seconds=1), 10)
        assert [t.aggregate_id for t in due] == ["first"]
        await index.done(due, T0 + timedelta(seconds=30), complete=True)  # handling it took half a minute
        assert [t.aggregate_id for t in await index.due(T0 + timedelta(seconds=31), 10)] == ["meanwhile"]

    async def test_a_timer_due_long_before_the_first_sweep_is_found(self, store: AggregateStore) -> None:
        index = store.timers
        await index.note([Hint("old", T0 - timedelta(days=3), T0 - timedelta(days=3))])
        assert [t.aggregate_id for t in await index.due(T0, 10)] == ["old"]


class Tally(BaseModel):
    case_id: str
    count: int = 0
    timers: dict[str, datetime] = {}


class Bumped(Payload):
    TYPE = "casework.test.bumped.v1"
    TOPIC = "cases.opened"
    case_id: Identifier
    count: int


def bump(state: Tally | None, event: Inbound, now: datetime) -> tuple[Tally, list[Bumped]]:
    """Counts events per case; ``boom`` cannot be decided; ``remind`` arms a timer; a timer counts 100."""
    if event.type == "boom":
        raise ValueError("this event cannot be decided")
    if event.type == "follow-up" and state is None:
        raise ValueError("a follow-up needs the case it follows")
    case = state or Tally(case_id=event.subject or "")
    if isinstance(event.data, TimerFired):
        case = case.model_copy(update={"count": case.count + 100})
    else:
        timers = {"remind": now + timedelta(minutes=5)} if event.type == "remind" else case.timers
        case = case.model_copy(update={"count": case.count + 1, "timers": timers})
    return case, [Bumped(case_id=case.case_id, count=case.count)]


def inbound(event_id: str, case_id: str = "case-1", type_: str = "casework.test.v1") -> Inbound:
    """An event read from Kafka: read again until what it caused is out."""
    return Inbound(id=event_id, type=type_, data=None, subject=case_id, topic="t", partition=0, offset=0)


def internal(event_id: str, case_id: str = "case-1") -> Inbound:
    """An event from no topic (a delivery's outcome, say): nothing reads it again."""
    return Inbound(id=event_id, type="casework.test.v1", data=None, subject=case_id)


class Interfering:
    """A store whose aggregate changes under the first ``times`` writes (another writer)."""

    def __init__(self, store: AggregateStore, times: int) -> None:
        self.inner = store
        self.times = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, writes: Sequence[Write]) -> set[str]:
        if self.times:
            self.times -= 1
            for w in writes:
                stored = (await self.inner.load([w.id])).get(w.id)
                state = dict(stored.state or {}) if stored else {"case_id": w.id}
                state["count"] = state.get("count", 0) + 10  # someone else's change
                seen = [*stored.seen, f"other-{self.times}"] if stored else [f"other-{self.times}"]
                await self.inner.write([Write(w.id, stored.version if stored else 0, state, seen, [], None,
                                              w.now, [f"other-{self.times}"])])
        return await self.inner.write(writes)


class FailingAfterWrite(Interfering):
    """A store whose first write lands but answers with a network error."""

    def __init__(self, store: AggregateStore) -> None:
        super().__init__(store, times=0)
        self.failed = False

    async def write(self, writes: Sequence[Write]) -> set[str]:
        result = await self.inner.write(writes)
        if not self.failed:
            self.failed = True
            raise OSError("connection reset after the write")
        return result


class Overlaps:
    """A store that notes how many writes were in flight at once, and any aggregate written
    twice at once (what FerretDB would get wrong)."""

    def __init__(self, store: AggregateStore) -> None:
        self.inner = store
        self.in_flight: set[str] = set()
        self.most = 0
        self.same_twice: set[str] = set()
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, writes: Sequence[Write]) -> set[str]:
        ids = {w.id for w in writes}
        self.same_twice |= ids & self.in_flight
        self.in_flight |= ids
        self.writes += 1
        self.most = max(self.most, self.writes)
        try:
            await asyncio.sleep(0.02)  # long enough for the other batches to try
            return await self.inner.write(writes)
        finally:
            self.in_flight -= ids
            self.writes -= 1


class WorkflowBehaviour:
    """The workflow's promises, over whichever store the subclass gives."""

    def flow(self, store: Any, publisher: RecordingPublisher | None = None, **hooks: Any) -> Workflow[Tally]:
        return Workflow("test", Tally, Pure(bump), store, publisher or RecordingPublisher(), FakeClock(T0),
                        "casework/test", aggregate_id=lambda e: e.subject or "", relay_after=timedelta(seconds=5),
                        **hooks)

    async def test_events_are_decided_written_and_published_once(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher()
        flow = self.flow(store, publisher)
        assert await flow.handle([inbound("e1"), inbound("e2"), inbound("e3", "case-2")]) == []
        assert await flow.handle([inbound("e2"), inbound("e1")]) == []  # redelivered: nothing
        stored = await store.load(["case-1", "case-2"])
        assert {i: (r.state or {})["count"] for i, r in stored.items()} == {"case-1": 2, "case-2": 1}
        assert len(publisher.sent) == 3 and len({e["id"] for e in publisher.sent}) == 3
        assert await at(flow, minutes=1).sweep() == 0 and len(publisher.sent) == 3  # no relay of what went out

    async def test_per_aggregate_writes_of_different_aggregates_overlap_and_of_one_never(
            self, store: AggregateStore) -> None:
        for per_aggregate, overlapping in ((True, True), (False, False)):
            watched = Overlaps(store)
            flow = self.flow(watched, per_aggregate=per_aggregate)
            tag = "p" if per_aggregate else "w"
            batches = [[inbound(f"{tag}{i}", f"{tag}-case-{i % 3}")] for i in range(9)]
            assert await asyncio.gather(*(flow.handle(b) for b in batches)) == [[]] * 9
            assert not watched.same_twice  # one aggregate is never written twice at once
            assert (watched.most > 1) is overlapping
            stored = await store.load([f"{tag}-case-{i}" for i in range(3)])
            assert {i: (r.state or {})["count"] for i, r in stored.items()} == {
                f"{tag}-case-{i}": 3 for i in range(3)}  # every event once
            async with flow.writing:  # alone: it waits for the writes under way, and none starts meanwhile
                later = asyncio.ensure_future(flow.handle([inbound(f"{tag}-after", f"{tag}-case-0")]))
                await asyncio.sleep(0.05)
                assert not later.done()
            assert await later == []

    async def test_per_aggregate_batches_gathered_together_each_get_their_answer(
            self, store: AggregateStore) -> None:
        """A batch that sleeps for the gather may find it was taken along by a later one."""
        flow = self.flow(store, per_aggregate=True, gather=0.05)
        first = asyncio.ensure_future(flow.handle([inbound("g1", "g-case-1")]))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(flow.handle([inbound("g2", "g-case-2"), inbound("bad", "g-case-2",
                                                                                       type_="boom")]))
        assert await first == []
        assert [p.event.id for p in await second] == ["bad"]
        stored = await store.load(["g-case-1", "g-case-2"])
        assert {i: (r.state or {})["count"] for i, r in stored.items()} == {"g-case-1": 1, "g-case-2": 1}

    async def test_a_reader_of_settled_reads_sees_what_a_gather_still_holds(self, store: AggregateStore) -> None:
        flow = self.flow(store, gather=0.2)
        held = asyncio.ensure_future(flow.handle([inbound("s1", "s-case")]))
        await asyncio.sleep(0.01)
        assert await store.load(["s-case"]) == {}  # still gathered
        loaded = await flow.settled_reads().load(["s-case"])
        assert (loaded["s-case"].state or {})["count"] == 1 and held.done()
        assert await flow.settled_reads().load(["other"]) == {}  # nothing received for it: at once

    async def test_a_failed_or_cancelled_batch_leaves_nothing_waiting(self, store: AggregateStore) -> None:
        flow = self.flow(FailingAfterWrite(store))
        with pytest.raises(OSError):
            await flow.handle([inbound("f1", "f-case")])
        assert flow.received == [] and flow.joining == []  # a reader of f-case waits for nothing
        gathered = self.flow(store, per_aggregate=True, gather=0.05)
        first = asyncio.ensure_future(gathered.handle([inbound("c1", "c-case-1")]))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(gathered.handle([inbound("c2", "c-case-2")]))
        await asyncio.sleep(0.01)
        second.cancel()  # its consumer stopped during the window: it is read again, not written now
        assert await first == []
        assert set(await store.load(["c-case-1", "c-case-2"])) == {"c-case-1"}
        assert gathered.received == [] and gathered.joining == []

    async def test_a_conflicting_writer_makes_the_batch_decide_again(self, store: AggregateStore) -> None:
        await self.flow(store).handle([inbound("e1")])
        publisher = RecordingPublisher()
        await self.flow(Interfering(store, times=2), publisher).handle([inbound("e2")])
        stored = (await store.load(["case-1"]))["case-1"]
        assert stored.state is not None and stored.state["count"] == 1 + 10 + 10 + 1  # decided from what was stored
        assert [published_count(e) for e in publisher.sent] == [22]

    async def test_a_conflict_that_persists_is_reported_not_swallowed(self, store: AggregateStore) -> None:
        with pytest.raises(ConcurrencyConflict):
            await self.flow(Interfering(store, times=MAX_CONFLICT_ROUNDS)).handle([inbound("e1")])

    async def test_an_event_that_cannot_be_decided_is_poison_and_the_rest_go_on(self, store: AggregateStore) -> None:
        poisons = await self.flow(store).handle([inbound("e1"), inbound("bad", type_="boom"), inbound("e2")])
        assert [p.event.id for p in poisons] == ["bad"]
        assert (await store.load(["case-1"]))["case-1"].seen == [inbound("e1").identity, inbound("e2").identity]

    async def test_an_event_refused_by_a_new_aggregate_is_decided_again_on_what_is_stored(
            self, store: AggregateStore) -> None:
        """The first round takes an aggregate this process never saw for new: a decision that
        needs it to exist (a follow-up of a case opened before a restart) is made on what is stored."""
        await self.flow(store).handle([inbound("e1")])
        restarted = self.flow(store)  # knows nothing yet
        assert await restarted.handle([inbound("f1", type_="follow-up")]) == []
        assert (await store.load(["case-1"]))["case-1"].state == {"case_id": "case-1", "count": 2, "timers": {}}
        [poison] = await restarted.handle([inbound("f2", "case-none", type_="follow-up")])  # really unknown
        assert poison.event.id == "f2" and await store.load(["case-none"]) == {}

    async def test_an_outbox_the_broker_refused_goes_out_later_and_once(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher(fail_next=1)
        flow = self.flow(store, publisher)
        with pytest.raises(ConnectionError):
            await flow.handle([inbound("e1")])
        assert flow.unpublished == {"case-1"}
        assert await flow.retry_unpublished() == 1
        assert await flow.handle([inbound("e1")]) == []  # the redelivery finds it confirmed
        assert await at(flow, seconds=10).sweep() == 0
        assert [published_count(e) for e in publisher.sent] == [1]

    async def test_the_next_event_of_an_aggregate_takes_its_leftovers_along(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher(fail_next=1)
        flow = self.flow(store, publisher)
        with pytest.raises(ConnectionError):
            await flow.handle([inbound("e1")])
        await flow.handle([inbound("e2")])
        assert [published_count(e) for e in publisher.sent] == [1, 2]

    async def test_a_write_after_a_confirmed_publish_carries_only_its_own_events(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher()
        flow = self.flow(store, publisher)
        await flow.handle([inbound("e1")])
        await flow.handle([inbound("e2")])
        assert [published_count(e) for e in publisher.sent] == [1, 2]
        assert await at(flow, seconds=10).sweep() == 0 and len(publisher.sent) == 2  # nothing to relay

    async def test_a_restart_relays_what_a_crash_left_unpublished(self, store: AggregateStore) -> None:
        with pytest.raises(ConnectionError):
            await self.flow(store, RecordingPublisher(fail_next=1)).handle([internal("e1"), internal("e2", "case-2")])
        publisher = RecordingPublisher()
        restarted = self.flow(store, publisher)
        assert await at(restarted, seconds=4).sweep() == 0 and publisher.sent == []  # not yet: it may be under way
        await at(restarted, seconds=5).sweep()
        assert sorted(json.loads(e["value"])["data"]["case_id"] for e in publisher.sent) == ["case-1", "case-2"]
        await at(restarted, seconds=30).sweep()
        assert len(publisher.sent) == 2

    async def test_a_process_that_did_not_see_the_publish_sends_the_last_outbox_again(
            self, store: AggregateStore) -> None:
        first, second = RecordingPublisher(), RecordingPublisher()
        await self.flow(store, first).handle([inbound("e1")])
        await self.flow(store, second).handle([inbound("e2")])  # another process: harmless re-send
        assert [e["id"] for e in second.sent][:1] == [e["id"] for e in first.sent]
        assert [published_count(e) for e in second.sent] == [1, 2]

    async def test_a_clean_restart_sends_nothing_again(self, store: AggregateStore) -> None:
        first, second = RecordingPublisher(), RecordingPublisher()
        flow = self.flow(store, first)
        await flow.handle([inbound("e1")])
        await flow.keep_watermarks()  # as a run does every second and when it stops
        restarted = self.flow(store, second)
        await restarted.keep_watermarks()  # as a run does when it starts
        await restarted.handle([inbound("e2")])
        assert await at(restarted, minutes=1).sweep() == 0
        assert [published_count(e) for e in second.sent] == [2]

    async def test_a_write_that_failed_half_way_is_settled_by_the_relay(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher()
        flow = self.flow(FailingAfterWrite(store), publisher)
        with pytest.raises(OSError):
            await flow.handle([inbound("e1")])  # written; the reply was lost
        assert flow.watermarks.through < flow.watermarks.issued and publisher.sent == []
        await flow.retry_unpublished()
        assert [published_count(e) for e in publisher.sent] == [1]
        assert flow.watermarks.through == flow.watermarks.issued

    async def test_a_write_of_kafka_records_leaves_no_relay_hint(self, store: AggregateStore) -> None:
        flow = self.flow(store)
        await flow.handle([inbound("e1")])  # read again until its outbox is out
        assert [t for t in await store.timers.due(T0 + timedelta(seconds=10), 10) if t.relay] == []
        await at(flow, seconds=20).handle([internal("t1")])  # a sweep's or a feedback's: relayed if lost
        assert {t.aggregate_id for t in await store.timers.due(T0 + timedelta(seconds=30), 10) if t.relay} == {
            "case-1"}

    async def test_events_from_two_sources_with_one_id_are_two_events(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher()
        flow = self.flow(store, publisher)
        one = Inbound(id="17", type="casework.test.v1", data=None, subject="case-1", source="agency/A")
        other = Inbound(id="17", type="casework.test.v1", data=None, subject="case-1", source="agency/B")
        await flow.handle([one, other])
        await flow.handle([other])  # a repeat of B's
        assert (await store.load(["case-1"]))["case-1"].state == {"case_id": "case-1", "count": 2, "timers": {}}
        assert len({e["id"] for e in publisher.sent}) == 2

    async def test_a_timer_fires_once_when_due_and_never_early(self, store: AggregateStore) -> None:
        publisher = RecordingPublisher()
        flow = self.flow(store, publisher)
        await flow.handle([inbound("e1", type_="remind")])
        assert await at(flow, minutes=4).sweep() == 0
        assert await at(flow, minutes=5).sweep() == 1
        assert await at(flow, minutes=6).sweep() == 0
        assert await at(self.flow(store, publisher), minutes=7).sweep() == 0  # a second sweeper
        state = (await store.load(["case-1"]))["case-1"].state
        assert state == {"case_id": "case-1", "count": 101, "timers": {}}, state

    async def test_a_timer_due_while_a_slow_sweep_runs_fires_in_the_next(self, store: AggregateStore) -> None:
        publisher = Slow(timedelta(seconds=30))
        flow = self.flow(store, publisher)
        publisher.clock = flow.clock
        await flow.handle([inbound("e1", type_="remind")])  # due at T0 + 5 min
        await at(flow, seconds=10).handle([inbound("e2", "case-2", type_="remind")])  # due 10 s later
        assert await at(flow, minutes=5, seconds=1).sweep() == 1  # its publish takes until 5:31
        assert await flow.sweep() == 1
        counts = {i: (r.state or {})["count"] for i, r in (await store.load(["case-1", "case-2"])).items()}
        assert counts == {"case-1": 101, "case-2": 101}

    async def test_a_rearmed_timer_fires_at_its_new_time_only(self, store: AggregateStore) -> None:
        flow = self.flow(store)
        await flow.handle([inbound("e1", type_="remind")])
        await at(flow, minutes=3).handle([inbound("e2", type_="remind")])  # now due at T0 + 8 min
        assert await at(flow, minutes=6).sweep() == 0  # the old hint is stale
        assert await at(flow, minutes=8).sweep() == 1

    async def test_before_write_can_send_an_aggregate_back_to_decide(self, store: AggregateStore) -> None:
        rounds: list[list[str]] = []

        async def refuse_once(changes: list[Change[Any]]) -> set[str]:
            rounds.append([c.id for c in changes])
            return {"case-2"} if len(rounds) == 1 else set()

        await self.flow(store, before_write=refuse_once).handle([inbound("e1"), inbound("e2", "case-2")])
        assert rounds == [["case-1", "case-2"], ["case-2"]]
        assert set(await store.load(["case-1", "case-2"])) == {"case-1", "case-2"}

    async def test_after_write_sees_only_what_was_written(self, store: AggregateStore) -> None:
        seen: list[tuple[str, int | None, int | None]] = []

        async def note(changes: list[Change[Any]]) -> None:
            seen.extend((c.id, c.before.count if c.before else None, c.after.count if c.after else None)
                        for c in changes)

        flow = self.flow(store, after_write=note)
        await flow.handle([inbound("e1")])
        await flow.handle([inbound("e1"), inbound("e2")])
        assert seen == [("case-1", None, 1), ("case-1", 1, 2)]


class Slow(RecordingPublisher):
    """A publisher during whose sends ``clock`` moves on by ``takes`` (a loaded broker, a busy machine)."""

    def __init__(self, takes: timedelta) -> None:
        super().__init__()
        self.takes = takes
        self.clock: Any = None

    async def send(self, entries: Sequence[dict[str, Any]]) -> int:
        if self.clock is not None:
            self.clock.set(self.clock.now() + self.takes)
        return await super().send(entries)


def at(flow: Workflow[Tally], **delta: float) -> Workflow[Tally]:
    """The workflow with its (fake) clock set to ``T0 + delta``."""
    assert isinstance(flow.clock, FakeClock)
    flow.clock.set(T0 + timedelta(**delta))
    return flow


def published_count(entry: dict[str, Any]) -> int:
    return int(json.loads(entry["value"])["data"]["count"])
