"""Waiting for a casework process to answer ``/readyz``: ``make run``, tests and benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx


def _nothing() -> None:
    return None


async def answers_ready(client: httpx.AsyncClient, port: int) -> bool:
    """Whether the process on this loopback port says it is ready (200 on ``/readyz``)."""
    try:
        return (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_ready(port: int, *, within: float, interval: float = 0.2, check: Callable[[], None] = _nothing) -> bool:
    """Poll until the process on ``port`` is ready (True) or ``within`` seconds have passed (False).

    ``check`` runs before each poll; it raises to stop waiting (the process exited).
    """
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            check()
            if await answers_ready(client, port):
                return True
            await asyncio.sleep(interval)
    return False
