"""Services are not conditioned on cooperation (rule 1, M2): the stabilization service reads
exactly its five topics and publishes only stabilization events. (What every service must
do, and what no unconditional service may read or import, is checked for all of them in
``test_topology``.)"""

from __future__ import annotations

from services.stabilization.app import bootstrap
from shared.settings import Settings

PREFIX = "topo."
CONSUMED = {"cases.opened", "referrals.events", "stabilization.recorded", "interviews.requested", "services.events"}


def test_it_consumes_exactly_its_five_topics() -> None:
    service = bootstrap(Settings(topic_prefix=PREFIX))
    assert {t.name.removeprefix(PREFIX) for sub in service.broker.subscribers for t in sub.topics} == CONSUMED


def test_it_publishes_only_stabilization_events() -> None:
    service = bootstrap(Settings(topic_prefix=PREFIX))
    assert {p.topic for p in service.broker.publishers} == {f"{PREFIX}stabilization.events"}
