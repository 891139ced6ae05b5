"""The workflow's write locks: disjoint aggregates at once, one aggregate never twice, the
whole workflow alone, and nothing left held or waiting when a task is cancelled."""

from __future__ import annotations

import asyncio

from shared.kit.locks import AggregateLocks


async def holding(locks: AggregateLocks, ids: list[str], entered: list[str], release: asyncio.Event,
                  name: str) -> None:
    async with locks.of(ids):
        entered.append(name)
        await release.wait()


async def test_disjoint_aggregates_at_once_one_aggregate_never_twice() -> None:
    locks, entered, release = AggregateLocks(per_aggregate=True), [], asyncio.Event()
    tasks = [asyncio.ensure_future(holding(locks, ids, entered, release, name))
             for name, ids in (("a", ["1", "2"]), ("b", ["3"]), ("c", ["2", "4"]))]
    await asyncio.sleep(0.01)
    assert entered == ["a", "b"]  # c waits for aggregate 2
    release.set()
    await asyncio.gather(*tasks)
    assert entered == ["a", "b", "c"] and not locks.busy


async def test_the_whole_workflow_waits_for_writes_under_way_and_holds_new_ones_back() -> None:
    locks, entered, release = AggregateLocks(per_aggregate=True), [], asyncio.Event()
    first = asyncio.ensure_future(holding(locks, ["1"], entered, release, "first"))
    await asyncio.sleep(0)

    async def alone() -> None:
        async with locks.everything():
            entered.append("alone")

    whole = asyncio.ensure_future(alone())
    await asyncio.sleep(0.01)
    later = asyncio.ensure_future(holding(locks, ["9"], entered, asyncio.Event(), "later"))
    await asyncio.sleep(0.01)
    assert entered == ["first"]  # the whole waits for first; later waits behind the whole
    release.set()
    await asyncio.sleep(0.01)
    assert entered == ["first", "alone", "later"]
    later.cancel()
    await asyncio.gather(first, whole, later, return_exceptions=True)


async def test_a_cancelled_holder_or_waiter_leaves_nothing_held_or_stuck() -> None:
    locks, entered, release = AggregateLocks(per_aggregate=True), [], asyncio.Event()
    holder = asyncio.ensure_future(holding(locks, ["1"], entered, asyncio.Event(), "holder"))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(holding(locks, ["1"], entered, release, "waiter"))
    whole_waiter = asyncio.ensure_future(locks.everything().__aenter__())
    await asyncio.sleep(0.01)
    whole_waiter.cancel()  # a whole that gave up lets the others on
    holder.cancel()
    await asyncio.sleep(0.01)
    assert entered == ["holder", "waiter"]
    release.set()
    await asyncio.gather(holder, waiter, whole_waiter, return_exceptions=True)
    assert not locks.busy


async def test_one_batch_at_a_time_unless_per_aggregate() -> None:
    locks, entered, release = AggregateLocks(), [], asyncio.Event()
    tasks = [asyncio.ensure_future(holding(locks, [name], entered, release, name)) for name in "ab"]
    await asyncio.sleep(0.01)
    assert entered == ["a"]
    release.set()
    await asyncio.gather(*tasks)
    assert entered == ["a", "b"]
