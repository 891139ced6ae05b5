"""Failpoints: named places where a test can make the process die for real.

``CASEWORK_FAILPOINTS=after-write`` makes the service SIGKILL itself right after an
aggregate write and before its outbox is published, the crash window the outbox exists
for; ``after-publish`` right after the broker took an outbox and before the writer's
watermark says so (the window the watermark's re-send covers). Each name fires once per
process (a restarted process starts clean unless the variable is set again).
``start-<service>`` (``start-referral``, say) makes that service fail at start with an
error, every time it starts, as a broken deployment would: the other services in the same
environment start as usual. Unset in normal operation, this costs one set lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED = {name for name in os.environ.get("CASEWORK_FAILPOINTS", "").split(",") if name}


class FailpointError(RuntimeError):
    """Raised where a failpoint makes the process fail with an error rather than die."""


def failpoint(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)


def refuse_start(service: str) -> None:
    """``start-<service>``: this service cannot start (the process exits with an error)."""
    if f"start-{service}" in _ARMED:
        raise FailpointError(f"failpoint start-{service}: {service} refuses to start")
