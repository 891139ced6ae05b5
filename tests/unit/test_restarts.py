"""The restart policy of ``make run`` (casework.restarts): backoff, giving up, forgetting."""

from __future__ import annotations

import pytest

from casework.restarts import GiveUp, Restart, RestartPolicy, Restarts, describe_window
from shared.settings import RunSettings, Settings

POLICY = RestartPolicy(first_delay=1, factor=2, max_delay=30, max_crashes=5, window=180, stable_after=60)


def crash_loop(restarts: Restarts, *, runs: float, times: int, start: float = 0.0) -> list[Restart | GiveUp]:
    """``times`` runs of ``runs`` seconds each, every one ending in a crash, each restarted at once."""
    decisions, now = [], start
    for _ in range(times):
        decisions.append(restarts.crashed(started=now, died=now + runs))
        now += runs
    return decisions


def test_the_delay_doubles_from_the_first_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay=1, factor=2, max_delay=30, max_crashes=100)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_crashes_in_a_row_back_off_then_give_up_at_the_limit() -> None:
    decisions = crash_loop(Restarts(POLICY), runs=2, times=5)
    assert decisions[:4] == [Restart(1, 1), Restart(2, 2), Restart(4, 3), Restart(8, 4)]
    assert decisions[4] == GiveUp(crashes=5, window=180)


def test_crashes_spread_wider_than_the_window_never_give_up() -> None:
    restarts = Restarts(POLICY)
    # One crash every 50 s, each run short of the stable period: at most four in any 180 s.
    decisions = crash_loop(restarts, runs=50, times=12)
    assert not any(isinstance(d, GiveUp) for d in decisions)
    assert decisions[-1] == Restart(8, 4)


def test_only_the_crashes_within_the_window_count() -> None:
    restarts = Restarts(RestartPolicy(max_crashes=3, window=10, stable_after=1000))
    assert restarts.crashed(started=0, died=1) == Restart(1, 1)
    assert restarts.crashed(started=1, died=2) == Restart(2, 2)
    # 20 s later the first two are outside the window: this one is the first again.
    assert restarts.crashed(started=2, died=22) == Restart(1, 1)
    assert restarts.crashed(started=22, died=23) == Restart(2, 2)
    assert restarts.crashed(started=23, died=24) == GiveUp(crashes=3, window=10)


def test_a_stable_run_forgets_the_crashes_before_it() -> None:
    restarts = Restarts(POLICY)
    assert crash_loop(restarts, runs=1, times=4)[-1] == Restart(8, 4)
    # It then ran for the stable period before dying: the backoff starts over.
    assert restarts.crashed(started=10, died=10 + 60) == Restart(1, 1)
    assert restarts.crashed(started=71, died=72) == Restart(2, 2)


def test_a_run_just_short_of_stable_does_not_forget() -> None:
    restarts = Restarts(POLICY)
    crash_loop(restarts, runs=1, times=4)
    assert restarts.crashed(started=4, died=4 + 59.9) == GiveUp(crashes=5, window=180)


def test_a_policy_of_one_crash_gives_up_at_once() -> None:
    assert Restarts(RestartPolicy(max_crashes=1)).crashed(started=0, died=1) == GiveUp(crashes=1, window=180)


def test_the_policy_comes_from_the_settings() -> None:
    settings = Settings(run=RunSettings(restart_first_delay_seconds=0.5, restart_max_delay_seconds=4,
                                        restart_max_crashes=3, restart_window_seconds=90, restart_stable_seconds=20))
    assert RestartPolicy.from_settings(settings) == RestartPolicy(
        first_delay=0.5, factor=2, max_delay=4, max_crashes=3, window=90, stable_after=20)
    assert RestartPolicy.from_settings(Settings()) == RestartPolicy()


@pytest.mark.parametrize(("seconds", "said"), [(180, "3 min"), (60, "1 min"), (45, "45 s"), (90, "90 s"),
                                               (0.5, "0.5 s")])
def test_windows_are_said_in_minutes_when_whole(seconds: float, said: str) -> None:
    assert describe_window(seconds) == said
