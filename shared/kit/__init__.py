"""The reliable-processing kit (docs/design.md): exactly-once effects on at-least-once Kafka.

* :mod:`.consumer`: batch subscribers that read CloudEvents, dead-letter bad input and
  retry transient failures while holding the partition.
* :mod:`.workflow`: ``decide(state, event, now) -> (state, events)`` per aggregate,
  one guarded write per aggregate with its ``seen`` ids and ``outbox``.
* :mod:`.outbox`: publishing what was written, right after the write and on a timer.
* :mod:`.timers`: durable timers, a ``due_at`` field swept through the same ``decide``.
* :mod:`.service`: the runtime every service is built with.
"""

from shared.kit.clock import Clock, FakeClock, SystemClock
from shared.kit.inbound import Inbound, TimerFired

__all__ = ["Clock", "FakeClock", "Inbound", "SystemClock", "TimerFired"]
