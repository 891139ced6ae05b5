"""What handling can end in besides success: a poisoned event, a conflict that persists."""

from __future__ import annotations

from dataclasses import dataclass

from shared.kit.inbound import Inbound


class ConcurrencyConflict(Exception):
    """The same aggregates kept changing under us: retried like any transient error."""


@dataclass(frozen=True)
class Poison:
    """An event ``decide`` could not handle: it is dead-lettered, the rest go on."""

    event: Inbound
    error: BaseException


class Refused(Exception):
    """The database refused a write for good: retrying the same event cannot help."""
