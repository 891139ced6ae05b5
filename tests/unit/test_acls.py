"""The broker's ACLs, derived from the catalogue: who may read and write what, as a table
over principals by topics by read/write (the issue's cases named, the rest by rule)."""

from __future__ import annotations

import pytest

from shared.acls import Acl, acls, allowed, principals
from shared.topics import CATALOGUE, CLIENTS, INBOUND_TOPICS, OPERATOR, RESTRICTED_TOPICS, SERVICES, dlq, spec

RULES = acls()
TOPICS = sorted((*CATALOGUE, *(dlq(t) for t in CATALOGUE)))


@pytest.mark.parametrize(("principal", "operation", "topic", "expected"), [
    ("referral", "Read", "certifications.events", False),
    ("stabilization", "Read", "certifications.events", False),
    ("agency", "Write", "encounters.reported", True),
    ("agency", "Write", "roster.specialists", False),
    ("agency", "Read", "encounters.reported", False),
    ("specialist_app", "Write", "referrals.responded", True),
    ("specialist_app", "Write", "encounters.reported", False),
    ("dashboard_reader", "Read", "cases.status", True),
    ("dashboard_reader", "Read", "audit.events", False),
    ("provider_system", "Write", "services.responded", True),
    ("provider_system", "Read", "services.events", False),
    ("status", "Read", "encounters.reported", False),
    ("notify", "Read", "encounters.reported.dlq", False),
    ("intake", "Read", "encounters.reported", True),
    ("operator", "Write", "encounters.reported", True),
    ("operator", "Write", "referrals.events", False),  # internal topics: their services only
    ("operator", "Write", "audit.events", True),  # its own look at dead letters' content, only
    ("operator", "Create", "encounters.reported", True),  # provisions inbound topics before the services start
    ("operator", "AlterConfigs", "audit.events", False),  # never the audit trail's retention
    ("operator", "Create", "referrals.events", False),
    ("operator", "Delete", "audit.events", False),
])
def test_the_named_cases(principal: str, operation: str, topic: str, expected: bool) -> None:
    assert allowed(RULES, principal, operation, topic) is expected


@pytest.mark.parametrize("principal", principals())
@pytest.mark.parametrize("topic", TOPICS)
def test_each_principal_reads_and_writes_exactly_what_the_catalogue_says(principal: str, topic: str) -> None:
    entry = spec(topic)
    reads = principal in entry.readers or principal == OPERATOR
    writes = principal in entry.writers or (principal == OPERATOR and entry.inbound)
    assert allowed(RULES, principal, "Read", topic) is reads
    assert allowed(RULES, principal, "Write", topic) is writes


@pytest.mark.parametrize("topic", sorted(RESTRICTED_TOPICS | {"encounters.reported", dlq("encounters.reported")}))
def test_restricted_topics_are_read_by_their_owners_and_operators_only(topic: str) -> None:
    readers = {p for p in principals() if allowed(RULES, p, "Read", topic)}
    assert OPERATOR in readers and not readers & (set(CLIENTS) - {OPERATOR})
    assert readers - {OPERATOR} <= {"certification", "notify", "status", "intake"}
    if topic.startswith("encounters.reported"):
        assert readers == ({"intake", OPERATOR} if topic == "encounters.reported" else {OPERATOR})


def test_no_client_writes_an_internal_topic_and_dead_letters_come_from_services() -> None:
    for rule in RULES:
        if rule.resource == "topic" and rule.operation == "Write" and rule.principal in CLIENTS:
            # The one exception: an operator's reveal of dead letters is recorded by the tool itself.
            assert rule.name in INBOUND_TOPICS or (rule.principal, rule.name) == (OPERATOR, "audit.events"), rule
        if rule.operation == "Write" and rule.name.endswith(".dlq"):
            assert rule.principal in SERVICES, rule


def test_consumer_groups_and_topic_names_follow_the_deployment_prefix() -> None:
    prefixed = acls("t1.")
    assert all(a.name.startswith("t1.") for a in prefixed), [a for a in prefixed if not a.name.startswith("t1.")]
    assert Acl("intake", "group", "t1.casework.intake.", "Read", prefixed=True) in prefixed
    assert Acl(OPERATOR, "group", "t1.", "Read", prefixed=True) in prefixed
    assert Acl(OPERATOR, "group", "*", "Read") in RULES  # no prefix: every group
    assert not [a for a in RULES if a.principal != OPERATOR and a.name == "*"]  # no wildcard but the operator's
