"""Services are not conditioned on cooperation (rule 1, M2): the stabilization service reads
no certification or prosecution topic, and never commits before its write (docs/design.md, Outbox relay)."""

from __future__ import annotations

import ast
from pathlib import Path

from faststream import AckPolicy

import services.stabilization
from services.stabilization.app import bootstrap
from shared.settings import Settings
from shared.topics import CATALOGUE, RESTRICTED_TOPICS

PREFIX = "topo."
CONSUMED = {"cases.opened", "referrals.events", "stabilization.recorded", "interviews.requested"}
FORBIDDEN_WORDS = ("certif", "prosecut", "cooperat", "court", "charge")


def subscribed(service) -> dict[str, object]:
    return {t.name.removeprefix(PREFIX): sub for sub in service.broker.subscribers for t in sub.topics}


def test_it_consumes_exactly_its_four_topics_and_none_about_certification_or_prosecution() -> None:
    topics = set(subscribed(bootstrap(Settings(topic_prefix=PREFIX))))
    assert topics == CONSUMED
    assert not topics & RESTRICTED_TOPICS
    assert not [t for t in topics if any(word in t for word in FORBIDDEN_WORDS)]
    assert all(t in CATALOGUE for t in topics)


def test_every_subscriber_commits_only_after_its_write() -> None:
    subs = subscribed(bootstrap(Settings(topic_prefix=PREFIX))).values()
    assert subs and all(s.ack_policy is AckPolicy.NACK_ON_ERROR for s in subs)


def test_it_publishes_only_stabilization_events() -> None:
    service = bootstrap(Settings(topic_prefix=PREFIX))
    assert {p.topic for p in service.broker.publishers} == {f"{PREFIX}stabilization.events"}


def test_no_module_of_the_service_imports_a_certification_contract() -> None:
    for path in Path(services.stabilization.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not [n for n in names if any(w in n.lower() for w in FORBIDDEN_WORDS)], path.name
