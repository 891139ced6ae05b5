"""The dashboard's session stores' behaviour suite: one body per promise, on every adapter.

``tests/unit/test_status_sessions.py`` runs it on :class:`MemorySessionStore`,
``tests/integration/test_status_sessions_ferretdb.py`` on :class:`MongoSessionStore` on
FerretDB. A subclass provides the ``make_store`` fixture (a clock in, a store out);
the clock is a :class:`FakeClock`, so idle and absolute lifetimes pass without waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from starsessions import generate_session_id

from services.status.sessions import SWEEP_GRACE, Lifetimes, SweptSessionStore
from shared.kit import FakeClock

IDLE, ABSOLUTE = timedelta(minutes=30), timedelta(hours=12)
LIFETIMES = Lifetimes(IDLE, ABSOLUTE)
MakeStore = Callable[[FakeClock], SweptSessionStore]


def data(**values: object) -> bytes:
    return json.dumps({"principal": "sup-tx", **values}).encode()


class SessionStoreBehaviour:
    """What every session store of the dashboard promises."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def store(self, make_store: MakeStore, clock: FakeClock) -> SweptSessionStore:
        return make_store(clock)

    async def test_a_written_session_reads_back_and_an_unknown_one_reads_empty(self, store: SweptSessionStore) -> None:
        sid = generate_session_id()
        assert await store.write(sid, data(n=1), 0, 0) == sid
        assert json.loads(await store.read(sid, 0)) == {"principal": "sup-tx", "n": 1}
        await store.write(sid, data(n=2), 0, 0)
        assert json.loads(await store.read(sid, 0))["n"] == 2
        assert await store.read(generate_session_id(), 0) == b""

    async def test_what_is_no_session_id_is_never_looked_up_or_stored(self, store: SweptSessionStore) -> None:
        for junk in ("", "x", "../etc", "A" * 32, "0" * 33, '{"$gt": ""}'):
            assert await store.write(junk, data(), 0, 0) == junk
            assert await store.read(junk, 0) == b""

    async def test_a_session_ends_after_the_idle_lifetime_without_use(self, store: SweptSessionStore,
                                                                     clock: FakeClock) -> None:
        sid = generate_session_id()
        await store.write(sid, data(), 0, 0)
        clock.advance(IDLE - timedelta(seconds=1))
        assert await store.read(sid, 0)  # reading alone is no use: the write after a request is
        clock.advance(seconds=1)
        assert await store.read(sid, 0) == b""

    async def test_each_use_moves_the_idle_end_on(self, store: SweptSessionStore, clock: FakeClock) -> None:
        sid = generate_session_id()
        await store.write(sid, data(), 0, 0)
        for _ in range(5):
            clock.advance(IDLE - timedelta(minutes=1))
            assert await store.read(sid, 0)
            await store.write(sid, data(), 0, 0)
        assert await store.read(sid, 0)

    async def test_a_session_ends_at_the_absolute_lifetime_however_active(self, store: SweptSessionStore,
                                                                        clock: FakeClock) -> None:
        sid = generate_session_id()
        await store.write(sid, data(), 0, 0)
        used = timedelta(0)
        while used + IDLE / 2 < ABSOLUTE:
            clock.advance(IDLE / 2)
            used += IDLE / 2
            assert await store.read(sid, 0), used
            await store.write(sid, data(), 0, 0)
        clock.advance(ABSOLUTE - used)
        assert await store.read(sid, 0) == b""

    async def test_a_removed_session_stays_ended(self, store: SweptSessionStore) -> None:
        sid, other = generate_session_id(), generate_session_id()
        await store.write(sid, data(), 0, 0)
        await store.write(other, data(), 0, 0)
        await store.remove(sid)
        assert await store.read(sid, 0) == b""
        await store.write(sid, data(n=9), 0, 0)  # a request that read it before the sign-out
        assert await store.read(sid, 0) == b""
        assert await store.read(other, 0)
        await store.remove(generate_session_id())  # nothing to remove: no error

    async def test_an_expired_session_is_not_written_back_into_being(self, store: SweptSessionStore,
                                                                     clock: FakeClock) -> None:
        sid = generate_session_id()
        await store.write(sid, data(), 0, 0)
        clock.advance(IDLE)
        await store.write(sid, data(), 0, 0)
        assert await store.read(sid, 0) == b""

    async def test_the_sweep_forgets_only_what_ended_a_while_ago(self, store: SweptSessionStore,
                                                                clock: FakeClock) -> None:
        idle, removed, live = generate_session_id(), generate_session_id(), generate_session_id()
        for sid in (idle, removed, live):
            await store.write(sid, data(), 0, 0)
        await store.remove(removed)
        assert await store.sweep() == 0  # just ended: kept a while, so it stays ended
        clock.advance(IDLE - timedelta(minutes=1))
        await store.write(live, data(), 0, 0)
        clock.advance(SWEEP_GRACE + timedelta(minutes=1))  # idle ended SWEEP_GRACE ago; removed before that
        assert await store.sweep() == 2
        assert await store.read(live, 0)
        assert await store.sweep() == 0
