"""The dispatcher with fakes: it sends exactly what a write claimed, records how it went, and
hands back a claim it could not start within its lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from types import SimpleNamespace

from services.notify.audience import Contact, Directory
from services.notify.channels import SENT, Outcome
from services.notify.dispatch import Dispatcher
from services.notify.domain import decide
from services.notify.state import Notification, Policy, aggregate_of
from shared.contracts.notifications import RecipientRole
from shared.kit import FakeClock, Inbound
from shared.kit.memory import MemoryAggregateStore, RecordingPublisher
from shared.kit.workflow import Workflow
from tests.support import notifications as n

POLICY = Policy(lease=60.0)
SPEC = Contact(id="spec-a", role=RecipientRole.VICTIM_SPECIALIST, email="a@x.org", webhook_url="https://h/a")


def written(clock: FakeClock):
    payload = n.assigned("case-1", SPEC.id)
    after = decide(None, Inbound(id="evt-1", type=payload.TYPE, data=payload), clock.now(),
                   directory=Directory(contacts={SPEC.id: SPEC}), policy=POLICY)[0]
    return SimpleNamespace(before=None, after=after)


async def run(clock: FakeClock, change, outcome: Outcome = SENT) -> tuple[list, list]:
    sent, recorded = [], []

    async def send(notification, index):
        sent.append(index)
        return outcome

    async def handle(events):
        recorded.extend(e.data for e in events)
        return []

    dispatcher = Dispatcher(send, handle, clock, POLICY, concurrency=2, send_timeout=10.0)
    await dispatcher.after_write([change])
    await dispatcher.close(grace=5)
    return sent, recorded


async def test_each_claimed_delivery_is_sent_once_and_recorded() -> None:
    clock = FakeClock(n.T0)
    sent, recorded = await run(clock, written(clock), Outcome(False, "HTTP 500"))
    assert sorted(sent) == [0, 1]
    assert sorted((r.index, r.attempt, r.ok, r.error, r.released) for r in recorded) == [
        (0, 1, False, "HTTP 500", False), (1, 1, False, "HTTP 500", False)]


async def test_nothing_is_sent_for_a_write_that_claimed_nothing() -> None:
    clock = FakeClock(n.T0)
    change = written(clock)
    sent, recorded = await run(clock, SimpleNamespace(before=change.after, after=change.after))
    assert sent == [] and recorded == []


async def test_a_claim_too_old_to_finish_within_its_lease_is_released_unsent() -> None:
    clock = FakeClock(n.T0)
    change = written(clock)
    clock.advance(timedelta(seconds=46))  # 60 s lease, up to 15 s to send: too late to start
    sent, recorded = await run(clock, change)
    assert sent == [] and {(r.index, r.released) for r in recorded} == {(0, True), (1, True)}


async def test_outcomes_finishing_together_share_one_write() -> None:
    clock = FakeClock(n.T0)
    writes: list[int] = []

    async def send(notification, index):
        await asyncio.sleep(0)
        return Outcome(True)

    async def handle(events):
        writes.append(len(events))
        await asyncio.sleep(0.01)
        return []

    dispatcher = Dispatcher(send, handle, clock, POLICY, concurrency=8, send_timeout=10.0)
    changes = []
    for i in range(6):
        payload = n.assigned(f"case-{i}", SPEC.id)
        after = decide(None, Inbound(id=f"evt-{i}", type=payload.TYPE, data=payload), clock.now(),
                       directory=Directory(contacts={SPEC.id: SPEC}), policy=POLICY)[0]
        changes.append(SimpleNamespace(before=None, after=after))
    await dispatcher.after_write(changes)
    await dispatcher.close(grace=5)
    assert sum(writes) == 12 and len(writes) < 12


async def test_a_sent_mail_waits_for_the_database_and_is_not_sent_again() -> None:
    """The database is away longer than the lease: the sweep that comes first extends it."""
    clock = FakeClock(n.T0)
    policy = Policy(lease=5.0, retry_base=0.01)
    store = MemoryAggregateStore()
    sent: list[int] = []
    database_up = asyncio.Event()
    flow: Workflow[Notification]

    async def send(notification, index):
        sent.append(index)
        return SENT

    async def handle(events):  # the recorder's write: the database answers only once it is back
        await database_up.wait()
        return await flow.handle(events)

    dispatcher = Dispatcher(send, handle, clock, policy, concurrency=2, send_timeout=1.0)

    class Routing:
        async def for_batch(self, events):
            return partial(decide, directory=Directory(contacts={SPEC.id: SPEC}), policy=policy,
                           in_flight=dispatcher.in_flight())

    flow = Workflow("notify", Notification, Routing(), store, RecordingPublisher(), clock, "casework/notify",
                    aggregate_id=aggregate_of, after_write=dispatcher.after_write)
    payload = n.assigned("case-1", SPEC.id)
    await flow.handle([Inbound(id="evt-1", type=payload.TYPE, data=payload, source="casework/referral")])
    while len(sent) < 2:
        await asyncio.sleep(0)  # both deliveries went out; their outcomes wait for the database
    clock.advance(seconds=30)  # the leases ran out long ago
    await flow.sweep()  # the sweeps get there first
    clock.advance(seconds=1)
    await flow.sweep()
    await asyncio.sleep(0.05)
    database_up.set()
    await dispatcher.close(grace=5)
    clock.advance(seconds=60)
    await flow.sweep()
    [stored] = (await store.load(list(store.docs))).values()
    assert sorted(sent) == [0, 1]
    assert [d["status"] for d in stored.state["deliveries"]] == ["sent", "sent"]
