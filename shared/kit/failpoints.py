"""Failpoints: named places where a test can make the process die for real.

``CASEWORK_FAILPOINTS=after-write`` makes the service SIGKILL itself right after an
aggregate write and before its outbox is published, the crash window the outbox exists
for. Each name fires once per process (a restarted process starts clean unless the
variable is set again). Unset in normal operation, this costs one set lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED = {name for name in os.environ.get("CASEWORK_FAILPOINTS", "").split(",") if name}


def failpoint(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
