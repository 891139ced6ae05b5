"""Retrying with backoff (shared.retry): attempts, waits, and what is raised."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.retry import retrying


class Flaky(Exception):
    """Stands for a transient failure (a database or broker hiccup)."""


class Broken(Exception):
    """Stands for a failure retrying does not cure."""


def failing(times: int, error: type[Exception] = Flaky) -> tuple[Callable[[], object], list[int]]:
    """A call that fails ``times`` times, then answers ``"done"``; and the list of its calls."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error(f"failure {len(calls)}")
        return "done"
    return call, calls


def recorder() -> tuple[Callable[[float], object], list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
    return sleep, waits


def is_flaky(exc: BaseException) -> bool:
    return isinstance(exc, Flaky)


async def test_a_call_that_succeeds_is_called_once_without_waiting() -> None:
    call, calls = failing(0)
    sleep, waits = recorder()
    assert await retrying(call, attempts=5, base_seconds=0.2, transient=is_flaky, sleep=sleep) == "done"
    assert calls == [1] and waits == []


async def test_transient_failures_are_retried_with_doubling_waits() -> None:
    call, calls = failing(3)
    sleep, waits = recorder()
    heard: list[tuple[int, str]] = []
    result = await retrying(call, attempts=5, base_seconds=0.2, transient=is_flaky, sleep=sleep,
                            on_transient=lambda attempt, exc: heard.append((attempt, str(exc))))
    assert result == "done"
    assert calls == [1, 2, 3, 4]
    assert waits == pytest.approx([0.2, 0.4, 0.8])
    assert heard == [(1, "failure 1"), (2, "failure 2"), (3, "failure 3")]


async def test_the_last_transient_failure_is_raised_after_every_attempt() -> None:
    call, calls = failing(10)
    sleep, waits = recorder()
    heard: list[int] = []
    with pytest.raises(Flaky, match="failure 4"):
        await retrying(call, attempts=4, base_seconds=1.0, transient=is_flaky, sleep=sleep,
                       on_transient=lambda attempt, exc: heard.append(attempt))
    assert calls == [1, 2, 3, 4]
    assert waits == [1.0, 2.0, 4.0]  # no wait after the last attempt
    assert heard == [1, 2, 3, 4]  # the last failure is heard of too


async def test_a_failure_that_is_not_transient_is_raised_at_once() -> None:
    call, calls = failing(1, Broken)
    sleep, waits = recorder()
    heard: list[int] = []
    with pytest.raises(Broken, match="failure 1"):
        await retrying(call, attempts=5, base_seconds=0.2, transient=is_flaky, sleep=sleep,
                       on_transient=lambda attempt, exc: heard.append(attempt))
    assert calls == [1] and waits == [] and heard == []


async def test_a_non_transient_failure_after_transient_ones_stops_the_retries() -> None:
    calls: list[int] = []

    async def call() -> None:
        calls.append(len(calls) + 1)
        raise (Flaky if len(calls) == 1 else Broken)("no")
    sleep, waits = recorder()
    with pytest.raises(Broken):
        await retrying(call, attempts=5, base_seconds=0.5, transient=is_flaky, sleep=sleep)
    assert calls == [1, 2] and waits == [0.5]


async def test_no_attempt_at_all_is_refused() -> None:
    call, calls = failing(0)
    with pytest.raises(ValueError, match="at least 1"):
        await retrying(call, attempts=0, base_seconds=0.2, transient=is_flaky)
    assert calls == []


async def test_without_a_bound_it_waits_capped_until_the_call_succeeds() -> None:
    waits: list[float] = []
    outcomes = iter([TimeoutError()] * 9 + ["done"])

    async def call() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await retrying(call, attempts=None, base_seconds=0.5, max_seconds=3.0, transient=lambda e: True,
                          sleep=sleep) == "done"
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
