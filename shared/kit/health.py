"""Whether a service's consumers are consuming, for ``/readyz`` (beside reaching the servers).

A consumer that keeps failing on the infrastructure holds its partition and is reported
here until a batch goes through again; the pause before each new delivery grows with the
failures in a row, up to ``MAX_PAUSE_SECONDS`` (well inside Kafka's poll interval).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from shared.errors import describe

MAX_PAUSE_SECONDS = 30.0


@dataclass
class Failing:
    since: float
    in_a_row: int
    error: str


@dataclass
class Health:
    topics: dict[str, Failing] = field(default_factory=dict)

    def failing(self, topic: str, exc: BaseException) -> float:
        """Note a failure the infrastructure caused; return how long to pause before retrying."""
        before = self.topics.get(topic)
        now = time.monotonic()
        failing = Failing(before.since if before else now, (before.in_a_row if before else 0) + 1, describe(exc))
        self.topics[topic] = failing
        return min(MAX_PAUSE_SECONDS, 2.0 ** (failing.in_a_row - 1))

    def consuming(self, topic: str) -> None:
        self.topics.pop(topic, None)

    @property
    def ok(self) -> bool:
        return not self.topics

    def report(self) -> dict[str, dict[str, object]]:
        now = time.monotonic()
        return {t: {"for_seconds": round(now - f.since, 1), "failures_in_a_row": f.in_a_row, "error": f.error}
                for t, f in sorted(self.topics.items())}
