"""Trying a call again after a transient failure, with exponential backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _nothing(attempt: int, exc: Exception) -> None:
    return None


async def retrying(call: Callable[[], Awaitable[T]], *, attempts: int | None, base_seconds: float,
                   transient: Callable[[BaseException], bool],
                   on_transient: Callable[[int, Exception], None] = _nothing,
                   sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                   max_seconds: float = float("inf")) -> T:
    """``call()``'s result, calling it up to ``attempts`` times (``None``: until it succeeds)
    while it fails transiently.

    The waits between attempts are ``base_seconds``, then twice that, four times..., never
    more than ``max_seconds``. A failure that is not transient is raised at once, and so is
    the last attempt's. ``on_transient(attempt, exc)`` hears of every transient failure.
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as exc:
            if not transient(exc):
                raise
            on_transient(attempt, exc)
            if attempt == attempts:
                raise
            await sleep(min(max_seconds, base_seconds * 2 ** min(attempt - 1, 60)))
