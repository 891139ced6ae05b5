"""The dashboard's sessions in the unit tier: the store's behaviour suite on the memory
store, and the stream check that closes what a session's end leaves open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starsessions import generate_session_id

from services.status.access import Role, new_token
from services.status.board import Board
from services.status.feed import ENDED, Broadcaster, close_ended
from services.status.sessions import MemorySessionStore, key
from services.status.views import Views
from shared.kit import FakeClock
from tests.support.session_behaviour import IDLE, LIFETIMES, MakeStore, SessionStoreBehaviour, data


class TestMemorySessionStore(SessionStoreBehaviour):
    @pytest.fixture
    def make_store(self) -> MakeStore:
        return lambda clock: MemorySessionStore(clock, LIFETIMES)


def test_a_session_is_stored_under_a_digest_of_its_id() -> None:
    sid = generate_session_id()
    assert key(sid) is not None and sid not in key(sid) and len(key(sid)) == 64
    assert key("not-a-session") is None


async def test_streams_of_ended_sessions_close_and_the_others_stay_open() -> None:
    clock = FakeClock()
    store = MemorySessionStore(clock, LIFETIMES)
    broadcaster = Broadcaster(Views(Board(), clock, 90))
    _, supervisor = new_token("sup", Role.SUPERVISOR, ["*"])
    signed_out, idle, active = generate_session_id(), generate_session_id(), generate_session_id()
    for sid in (signed_out, idle, active):
        await store.write(sid, data(), 0, 0)
    streams = {sid: broadcaster.subscribe(supervisor, sid) for sid in (signed_out, idle, active)}
    bearer = broadcaster.subscribe(supervisor)  # a bearer token's stream has no session
    await store.remove(signed_out)  # on another instance
    assert await close_ended(broadcaster, store) == 1
    assert streams[signed_out].closed and streams[signed_out].queue.get_nowait() is ENDED
    clock.advance(IDLE - timedelta(minutes=1))
    await store.write(active, data(), 0, 0)
    clock.advance(minutes=1)
    assert await close_ended(broadcaster, store) == 1
    assert streams[idle].closed and not streams[active].closed and not bearer.closed
    assert broadcaster.sessions() == {active}


def test_a_closed_stream_drops_its_backlog_and_gets_nothing_more() -> None:
    clock = FakeClock()
    broadcaster = Broadcaster(Views(Board(), clock, 90))
    _, supervisor = new_token("sup", Role.SUPERVISOR, ["*"])
    sub = broadcaster.subscribe(supervisor, generate_session_id())
    sub.queue.put_nowait({"event": "case", "data": "{}"})
    assert broadcaster.end_session(sub.session or "") == 1
    broadcaster._send(sub, {"event": "case", "data": "{}"})
    assert sub.queue.qsize() == 1 and sub.queue.get_nowait() is ENDED
    assert broadcaster.end_session(sub.session or "") == 0
