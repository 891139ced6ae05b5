"""The dashboard tails the compacted ``cases.status`` topic: board index and live updates.

Every dashboard instance reads all partitions from the beginning with its own consumer
(no group, nothing committed), so the board holds every case whichever instance folded
it, and a restart rebuilds the board from the topic. Once caught up with the end offsets
seen at start, each newer snapshot goes to the server-sent-event subscribers that may
see it (a specialist also hears when a case stops being theirs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from shared import logging as caselog
from shared.contracts.status import CaseStatus
from shared.kit import Clock
from shared.settings import Settings
from shared.topicread import TopicScan

from .access import Principal
from .alerts import Alert, for_reader
from .board import Board
from .rows import Row
from .sessions import SweptSessionStore
from .views import Views

log = caselog.get_logger("casework.status.feed")
QUEUE_LIMIT = 1000  # a subscriber this far behind is told to reload instead


ENDED = {"event": "ended", "data": "{}"}  # the stream's session is over: its last message


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    session: str | None = None  # the browser session it was opened in (None: a bearer token)
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    closed: bool = False

    def close(self) -> None:
        """Nothing more for this stream but ``ENDED`` (what it has not read yet is dropped)."""
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(ENDED)


class Broadcaster:
    """In-process fan-out of board changes to the open event streams, which are kept by
    session so that a session's end closes them."""

    def __init__(self, views: Views) -> None:
        self.views = views
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, principal: Principal, session: str | None = None) -> Subscriber:
        subscriber = Subscriber(principal, session)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def sessions(self) -> set[str]:
        """The sessions with a stream open here."""
        return {sub.session for sub in self.subscribers if sub.session is not None and not sub.closed}

    def end_session(self, session: str) -> int:
        """Close the streams of a session that ended; how many there were."""
        ending = [sub for sub in self.subscribers if sub.session == session and not sub.closed]
        for sub in ending:
            sub.close()
        return len(ending)

    def changed(self, row: Row, before: Row | None) -> None:
        for sub in list(self.subscribers):
            self._send(sub, self.views.change_for(sub.principal, row, before))

    def alert(self, alert: Alert) -> None:
        message = {"event": "alert", "data": json.dumps(alert.card())}
        for sub in list(self.subscribers):
            self._send(sub, message if for_reader(sub.principal, alert) else None)

    @staticmethod
    def _send(sub: Subscriber, message: dict[str, Any] | None) -> None:
        if message is None or sub.closed:
            return
        try:
            sub.queue.put_nowait(message)
        except asyncio.QueueFull:
            sub.queue = asyncio.Queue(QUEUE_LIMIT)  # drop the backlog: the page reloads
            sub.queue.put_nowait({"event": "reload", "data": "{}"})


async def close_ended(broadcaster: Broadcaster, sessions: SweptSessionStore) -> int:
    """Close the streams whose session ended (signed out on another instance, or expired),
    and sweep ended sessions away; how many sessions' streams were closed."""
    ended = [s for s in sorted(broadcaster.sessions()) if not await sessions.read(s, 0)]
    for session in ended:
        broadcaster.end_session(session)
    await sessions.sweep()
    return len(ended)


class StatusFeed:
    def __init__(self, settings: Settings, board: Board, broadcaster: Broadcaster, clock: Clock) -> None:
        self.settings = settings
        self.board = board
        self.broadcaster = broadcaster
        self.clock = clock
        self.caught_up = asyncio.Event()
        self.read = 0
        self.started_at = 0.0
        self.caught_up_after: float | None = None  # seconds from start to the end offsets
        self._scan: TopicScan | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.started_at = time.monotonic()
        self._scan = await TopicScan(self.settings, [CaseStatus.TOPIC], principal="status",
                                     client_id="casework-status-feed", max_records=5000,
                                     max_partition_fetch_bytes=4 << 20,
                                     fetch_max_wait_ms=self.settings.kit.fetch_max_wait_ms).open()
        self._task = asyncio.create_task(self._run(self._scan), name="status-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._scan:
            await self._scan.close()

    async def _run(self, scan: TopicScan) -> None:
        async for records in scan.follow(on_caught_up=self._mark_caught_up):
            self.apply(records)

    def _mark_caught_up(self) -> None:
        self.caught_up_after = round(time.monotonic() - self.started_at, 2)
        self.caught_up.set()
        log.info("status feed caught up", cases=len(self.board.rows), records=self.read, seconds=self.caught_up_after)

    def apply(self, records: list[Any]) -> None:
        now = self.clock.now().timestamp()
        live = self.caught_up.is_set()
        for record in records:
            self.read += 1
            row = _row(record)
            if row is None:
                continue
            before = self.board.put(row, now)
            if live and (before is not None or self.board.rows.get(row.case_id) is row):
                self.broadcaster.changed(row, before)


def _row(record: Any) -> Row | None:
    if record.value is None:
        return None
    try:
        event = json.loads(record.value)
        if event.get("type") != CaseStatus.TYPE:
            return None
        return Row.from_snapshot(event["data"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("unreadable status snapshot skipped", offset=record.offset, partition=record.partition,
                    error_type=type(exc).__name__)
        return None
