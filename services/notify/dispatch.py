"""Sending what a write claimed, off the consumer's path, and recording how it went.

The workflow calls :meth:`Dispatcher.after_write` once a claim is durably written; each
claimed delivery is then sent in its own task, at most ``concurrency`` at a time, so a
slow or failing recipient never holds a partition or another notification. The outcome
goes back through ``decide`` as a :class:`DeliveryAttempted` (the outcomes of about a tenth
of a second share one write). A crash after the recipient accepted and before that write is the one window for
a duplicate, and the Message-ID / Idempotency-Key let the receiver drop it; a claim whose
outcome never arrives is retried when its lease runs out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from prometheus_client import Counter

from shared import logging as caselog
from shared.errors import describe
from shared.kit import Clock, Inbound
from shared.kit.failpoints import failpoint
from shared.kit.failures import is_transient
from shared.retry import retrying

from .channels import Outcome
from .state import DeliveryAttempted, Notification, Policy, claims

log = caselog.get_logger("casework.notify")

ATTEMPTS = Counter("casework_notify_attempts_total", "Delivery attempts by channel and outcome",
                   ["channel", "outcome"])
RECORD_GATHER_SECONDS = 0.1
RECORD_BACKOFF_SECONDS = 0.2
RECORD_BACKOFF_MAX_SECONDS = 5.0

Send = Callable[[Notification, int], Awaitable[Outcome]]
Handle = Callable[[Sequence[Inbound]], Awaitable[list[Any]]]


class Recorder:
    """Writes outcomes in batches: the attempts that finish meanwhile share one write."""

    def __init__(self, handle: Handle) -> None:
        self.handle = handle
        self._waiting: list[tuple[Inbound, asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def record(self, event: Inbound) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="notify-recorder")
        await future

    async def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)

    async def _drain(self) -> None:
        while self._waiting:
            # The outcomes that finish meanwhile join this write: fewer, larger writes of what is
            # already delivered, beside the claims of the mails still to send.
            await asyncio.sleep(RECORD_GATHER_SECONDS)
            batch, self._waiting = self._waiting, []
            await self._write([event for event, _ in batch])
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _write(self, events: list[Inbound]) -> None:
        """Until it is written: a delivery that went out must never look as if it had not
        because the database was slow or away (its lease is extended meanwhile, see
        :meth:`Dispatcher.in_flight`). Only an error of the outcome's own ends the wait."""
        def waiting(attempt: int, exc: Exception) -> None:
            log.warning("delivery outcomes wait for the database", outcomes=len(events), attempt=attempt,
                        error=describe(exc))

        try:
            poisons = await retrying(partial(self.handle, events), attempts=None,
                                     base_seconds=RECORD_BACKOFF_SECONDS, max_seconds=RECORD_BACKOFF_MAX_SECONDS,
                                     transient=is_transient, on_transient=waiting)
        except Exception as exc:
            # The claims' leases run out and they are attempted again (a possible duplicate).
            log.error("delivery outcomes not recorded", outcomes=len(events), error=describe(exc))
            return
        for poison in poisons:
            log.error("delivery outcome could not be recorded", event_id=poison.event.id)
        failpoint("notify-after-record")


class Dispatcher:
    def __init__(self, send: Send, handle: Handle, clock: Clock, policy: Policy, *,
                 concurrency: int, send_timeout: float) -> None:
        self.send = send
        self.clock = clock
        self.policy = policy
        self.send_timeout = send_timeout
        self.recorder = Recorder(handle)
        self.limit = concurrency * 4  # queued attempts before the consumers wait
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        self._closed = False
        self._pending: set[tuple[str, int, int]] = set()  # claims sent or being recorded here

    def in_flight(self) -> frozenset[tuple[str, int, int]]:
        """``(notification, delivery, attempt)`` of the claims this process is still working on:
        their leases are extended, so a slow record never turns into a second send."""
        return frozenset(self._pending)

    async def after_write(self, changes: Sequence[Any]) -> None:
        for change in changes:
            for index in claims(change.before, change.after):
                self._start(change.after, index)

    def _start(self, notification: Notification, index: int) -> None:
        if self._closed:
            return  # shutting down: the claim's lease runs out and the next process sends it
        task = asyncio.create_task(self._attempt(notification, index), name=f"notify-{notification.id}-{index}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery attempt crashed", exc_info=task.exception())

    async def _attempt(self, n: Notification, index: int) -> None:
        """A slot is a send at a time (``concurrency`` of them); the outcome is recorded after
        the slot is given back, so the next mail need not wait for the outcome's write."""
        delivery = n.deliveries[index]
        claim = (n.id, index, delivery.attempts)
        released = False
        try:
            async with self._slots:
                if self._too_late(delivery.claimed_at):  # it could not finish within its lease any more
                    outcome, released = Outcome(False), True
                else:
                    self._pending.add(claim)
                    outcome = await self._send(n, index)
            await self._record(n, index, outcome, released=released)
        finally:
            self._pending.discard(claim)

    async def _send(self, n: Notification, index: int) -> Outcome:
        delivery = n.deliveries[index]
        outcome = await self.send(n, index)
        ATTEMPTS.labels(delivery.channel.value, "sent" if outcome.ok else "failed").inc()
        report = log.debug if outcome.ok else log.warning  # one line per mail is too many at info
        report("delivery attempted", notification_id=n.id, delivery=index, channel=delivery.channel.value,
               attempt=delivery.attempts, ok=outcome.ok, error=outcome.error)
        return outcome

    async def _record(self, n: Notification, index: int, outcome: Outcome, released: bool = False) -> None:
        delivery = n.deliveries[index]
        await self.recorder.record(DeliveryAttempted(
            n.id, index, delivery.attempts, outcome.ok, outcome.error, outcome.permanent, released=released,
            claimed_at=delivery.claimed_at).inbound())

    def _too_late(self, claimed_at: Any) -> bool:
        margin = timedelta(seconds=self.policy.lease - min(self.send_timeout * 1.5, self.policy.lease / 2))
        return claimed_at is not None and self.clock.now() > claimed_at + margin

    async def wait_capacity(self) -> None:
        """Back-pressure for the consumers: wait while too many attempts are queued."""
        while len(self._tasks) >= self.limit:
            self._freed.clear()
            await self._freed.wait()

    async def close(self, grace: float | None = None) -> None:
        """Let attempts under way finish (a cut-off send may become a duplicate), then stop."""
        self._closed = True
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace if grace is not None else self.send_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.close()
