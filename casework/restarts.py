"""When ``make run`` restarts a process that died, and when it gives up on it.

The policy alone, no processes and no clock here: the supervisor tells a :class:`Restarts`
when a run started and when it ended, and does what it answers. A process that dies is
restarted after a delay that doubles with each crash (1 s, 2 s, 4 s … at most 30 s by
default); one that dies ``max_crashes`` times within ``window`` seconds is left stopped:
it fails for a reason a restart does not cure, and restarting it again would only bury
the console. A run that lasted ``stable_after`` seconds forgets the crashes before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.settings import Settings


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    max_crashes: int = 5
    window: float = 180.0
    stable_after: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RestartPolicy:
        return cls(first_delay=settings.run.restart_first_delay_seconds,
                   max_delay=settings.run.restart_max_delay_seconds,
                   max_crashes=settings.run.restart_max_crashes,
                   window=settings.run.restart_window_seconds,
                   stable_after=settings.run.restart_stable_seconds)

    def delay(self, crashes: int) -> float:
        """The wait before the restart that follows the ``crashes``-th recent crash (from 1)."""
        return min(self.max_delay, self.first_delay * self.factor ** (crashes - 1))


@dataclass(frozen=True)
class Restart:
    """Start it again after ``delay`` seconds; ``crashes`` recent crashes so far."""

    delay: float
    crashes: int


@dataclass(frozen=True)
class GiveUp:
    """Leave it stopped: it died ``crashes`` times within ``window`` seconds."""

    crashes: int
    window: float


@dataclass
class Restarts:
    """One process's recent crashes, and what to do about the next one."""

    policy: RestartPolicy
    _crashes: list[float] = field(default_factory=list)

    def crashed(self, *, started: float, died: float) -> Restart | GiveUp:
        """The run that began at ``started`` ended at ``died`` (seconds on one monotonic clock)."""
        if died - started >= self.policy.stable_after:
            self._crashes.clear()
        self._crashes = [t for t in self._crashes if died - t < self.policy.window] + [died]
        count = len(self._crashes)
        if count >= self.policy.max_crashes:
            return GiveUp(count, self.policy.window)
        return Restart(self.policy.delay(count), count)


def describe_window(seconds: float) -> str:
    """``180`` → ``3 min``, ``45`` → ``45 s``: a window as the console says it."""
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"
