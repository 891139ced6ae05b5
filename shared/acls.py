"""The broker's access control list, derived from the topic catalogue (pure).

One principal per casework service (``casework-intake`` …) and per kind of outside client
(``casework-agency`` …, :data:`shared.topics.CLIENTS`). Each may do exactly what the
catalogue's ``writers`` and ``readers`` say, and nothing else is allowed (the broker's
authorizer denies what no ACL allows):

* a writer of a topic: ``Write`` and ``Describe`` on it;
* a reader: ``Read`` and ``Describe`` on it, and ``Read`` on its consumer groups
  (``casework.<service>.`` prefixed for a service, ``casework.<kind>.`` for a client);
* a service also creates the topics it touches and sets their configuration at start
  (``Create``, ``DescribeConfigs``, ``AlterConfigs``), and writes the dead letters of what
  it reads;
* an operator reads every topic and its consumer groups, and writes and provisions (creates,
  reads and sets the configuration of) every inbound topic
  (a roster or directory load, a replay of an inbound dead letter) and ``audit.events``
  (``casework dlq list --reveal`` records its look there before it shows anything).

So a restricted topic is read by its named readers only: the certification topics by
certification, notify and status; ``audit.events`` by status; ``encounters.reported``,
where the person's identity is in plain text, by intake alone — besides operators.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.topics import CATALOGUE, CLIENTS, OPERATOR, SERVICES, dlq, spec

PRINCIPAL_PREFIX = "casework-"
# An operator provisions the inbound topics it writes (creates one before the services first
# start, brings its configuration to the catalogue's: a roster load, ``casework simulate``),
# never an internal or a restricted one (the audit trail's retention is not an operator's to change).
OPERATOR_PROVISIONS = ("Create", "DescribeConfigs", "AlterConfigs")


@dataclass(frozen=True, order=True)
class Acl:
    """Allow ``principal`` to do ``operation`` on a resource (a literal or prefixed name)."""

    principal: str  # a casework service or client kind, e.g. "intake", "agency"
    resource: str  # "topic" or "group"
    name: str
    operation: str  # "Read", "Write", "Describe", "Create", "DescribeConfigs", "AlterConfigs"
    prefixed: bool = False

    @property
    def user(self) -> str:
        """The SASL user the principal authenticates as."""
        return f"{PRINCIPAL_PREFIX}{self.principal}"


def principals() -> tuple[str, ...]:
    return (*SERVICES, *CLIENTS)


def acls(topic_prefix: str = "") -> list[Acl]:
    """Every ACL of the system, sorted, for topics named with ``topic_prefix``."""
    found: set[Acl] = set()
    for name in (*CATALOGUE, *(dlq(t) for t in CATALOGUE)):
        topic = f"{topic_prefix}{name}"
        found |= _topic(topic, spec(name).writers, spec(name).readers)
        found |= {Acl(OPERATOR, "topic", topic, op) for op in ("Read", "Describe")}
        if spec(name).inbound:
            found |= {Acl(OPERATOR, "topic", topic, op) for op in ("Write", *OPERATOR_PROVISIONS)}
    for service in SERVICES:
        touched = {n for n in (*CATALOGUE, *(dlq(t) for t in CATALOGUE))
                   if service in spec(n).readers | spec(n).writers}
        for name in touched:
            found |= {Acl(service, "topic", f"{topic_prefix}{name}", op)
                      for op in ("Create", "Describe", "DescribeConfigs", "AlterConfigs")}
    for principal in principals():
        if any(a.principal == principal and a.operation == "Read" for a in found):
            found.add(Acl(principal, "group", f"{topic_prefix}casework.{principal}.", "Read", prefixed=True))
    # Every group (to inspect lag): the deployment's prefix, or all of them.
    found.add(Acl(OPERATOR, "group", topic_prefix or "*", "Read", prefixed=bool(topic_prefix)))
    return sorted(found)


def allowed(rules: Iterable[Acl], principal: str, operation: str, topic: str) -> bool:
    """Whether ``rules`` let ``principal`` do ``operation`` on ``topic`` (as the broker decides)."""
    return any(a.principal == principal and a.resource == "topic" and a.operation == operation
               and (topic.startswith(a.name) if a.prefixed else topic == a.name) for a in rules)


def _topic(topic: str, writers: frozenset[str], readers: frozenset[str]) -> set[Acl]:
    return ({Acl(w, "topic", topic, op) for w in writers for op in ("Write", "Describe")}
            | {Acl(r, "topic", topic, op) for r in readers for op in ("Read", "Describe")})
