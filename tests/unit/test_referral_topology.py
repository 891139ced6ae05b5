"""Referral is unconditional (rule 1, D2): it reads exactly its nine topics — never a
consent (P2: a service request never depends on one) — and publishes only referral and
service events. (What every service must do, and what no unconditional service may read or
import, is checked for all of them in ``test_topology``.)"""

from __future__ import annotations

from services.referral.app import bootstrap
from shared.contracts.referrals import REFERRAL_EVENTS
from shared.contracts.support import SERVICE_EVENTS
from shared.settings import Settings

PREFIX = "topo."
CONSUMED = {"cases.opened", "roster.specialists", "referrals.responded",
            "cases.closed", "cases.reopened", "referrals.reassigned",  # a case's life
            "providers.registered", "services.requested", "services.responded"}  # support services


def test_it_consumes_exactly_its_nine_topics() -> None:
    service = bootstrap(Settings(topic_prefix=PREFIX))
    assert {t.name.removeprefix(PREFIX) for sub in service.broker.subscribers for t in sub.topics} == CONSUMED


def test_it_publishes_only_referral_and_service_events() -> None:
    service = bootstrap(Settings(topic_prefix=PREFIX))
    assert {p.topic for p in service.broker.publishers} == {f"{PREFIX}referrals.events", f"{PREFIX}services.events"}
    assert {p.TOPIC for p in REFERRAL_EVENTS} == {"referrals.events"}
    assert {p.TOPIC for p in SERVICE_EVENTS} == {"services.events"}
