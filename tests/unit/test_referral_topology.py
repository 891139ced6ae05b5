"""Referral is unconditional (rule 1, D2): it reads no certification or prosecution topic,
and it never commits an offset before its write (docs/design.md, Outbox relay)."""

from __future__ import annotations

import ast
from pathlib import Path

from faststream import AckPolicy

import services.referral
from services.referral.app import bootstrap
from shared.contracts.referrals import REFERRAL_EVENTS
from shared.settings import Settings
from shared.topics import CATALOGUE, RESTRICTED_TOPICS

PREFIX = "topo."
CONSUMED = {"cases.opened", "roster.specialists", "referrals.responded"}
FORBIDDEN_WORDS = ("certif", "prosecut", "cooperat", "court", "charge")


def subscribed(service) -> dict[str, object]:
    return {t.name.removeprefix(PREFIX): sub for sub in service.broker.subscribers for t in sub.topics}


def test_it_consumes_exactly_its_three_topics_and_no_certification_topic() -> None:
    topics = set(subscribed(bootstrap(Settings(topic_prefix=PREFIX))))
    assert topics == CONSUMED
    assert not [t for t in topics if t.startswith("certifications.")]
    assert not topics & RESTRICTED_TOPICS
    assert not [t for t in topics if any(word in t for word in FORBIDDEN_WORDS)]
    assert topics <= set(CATALOGUE)


def test_every_subscriber_commits_only_after_its_write() -> None:
    subs = subscribed(bootstrap(Settings(topic_prefix=PREFIX))).values()
    assert subs and all(s.ack_policy is AckPolicy.NACK_ON_ERROR for s in subs)


def test_it_publishes_only_referral_events() -> None:
    service = bootstrap(Settings(topic_prefix=PREFIX))
    assert {p.topic for p in service.broker.publishers} == {f"{PREFIX}referrals.events"}
    assert {p.TOPIC for p in REFERRAL_EVENTS} == {"referrals.events"}


def test_no_module_of_the_service_imports_a_certification_contract() -> None:
    for path in Path(services.referral.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not [n for n in names if any(w in n.lower() for w in FORBIDDEN_WORDS)], path.name
