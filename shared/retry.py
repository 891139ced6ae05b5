"""Trying a call again after a transient failure, with exponential backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _nothing(attempt: int, exc: Exception) -> None:
    return None


async def retrying(call: Callable[[], Awaitable[T]], *, attempts: int, base_seconds: float,
                   transient: Callable[[BaseException], bool],
                   on_transient: Callable[[int, Exception], None] = _nothing,
                   sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> T:
    """``call()``'s result, calling it up to ``attempts`` times while it fails transiently.

    The waits between attempts are ``base_seconds``, then twice that, four times... A
    failure that is not transient is raised at once, and so is the last attempt's.
    ``on_transient(attempt, exc)`` hears of every transient failure, the last one too.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            if not transient(exc):
                raise
            on_transient(attempt, exc)
            if attempt == attempts:
                raise
            await sleep(base_seconds * 2 ** (attempt - 1))
    raise ValueError(f"attempts must be at least 1, not {attempts}")
