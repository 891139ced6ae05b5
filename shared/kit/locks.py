"""Who in this process may write which of a workflow's documents now.

FerretDB (SQLite) applies an update as read, modify, replace by ``_id``: two concurrent
updates of one document both match a ``version`` guard and the later one wins, even on
disjoint fields. So one process never has two writes of the same aggregate in flight.
By default a workflow is written by one batch at a time (:meth:`AggregateLocks.of` is the
whole workflow). A workflow whose batches usually touch different aggregates (a notice's
claim and an older notice's outcome; a case's snapshot and another's) may let writes of
*disjoint* aggregates overlap: ``per_aggregate``. Whatever writes documents it cannot name
beforehand (an ``update_many``) takes :meth:`AggregateLocks.everything`, which waits for
every write under way and lets no new one start meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager


class AggregateLocks:
    def __init__(self, *, per_aggregate: bool = False) -> None:
        self.per_aggregate = per_aggregate
        self._held: set[str] = set()
        self._whole = False
        self._whole_waiting = 0
        self._changed = asyncio.Condition()
        self._waking: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def of(self, ids: Iterable[str]) -> AsyncIterator[None]:
        """Write these aggregates (all of the workflow's, unless ``per_aggregate``)."""
        if not self.per_aggregate:
            async with self.everything():
                yield
            return
        wanted = set(ids)
        async with self._changed:
            await self._changed.wait_for(lambda: not self._whole and not self._whole_waiting
                                         and not wanted & self._held)
            self._held |= wanted
        try:
            yield
        finally:
            self._held -= wanted  # at once: a cancellation below cannot leave them held
            self._wake()

    @asynccontextmanager
    async def everything(self) -> AsyncIterator[None]:
        """Write any of the workflow's aggregates: alone."""
        async with self._changed:
            self._whole_waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._whole and not self._held)
            except BaseException:
                self._whole_waiting -= 1
                self._changed.notify_all()  # the callers it held back may go on
                raise
            self._whole_waiting -= 1
            self._whole = True
        try:
            yield
        finally:
            self._whole = False
            self._wake()

    def _wake(self) -> None:
        """Tell the waiters something was released (in a task of its own: a release in a
        ``finally`` that is being cancelled still wakes them)."""
        task = asyncio.get_running_loop().create_task(self._notify())
        self._waking.add(task)
        task.add_done_callback(self._waking.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @property
    def busy(self) -> bool:
        return self._whole or bool(self._held)
