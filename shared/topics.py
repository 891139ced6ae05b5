"""The topic catalogue: every topic the system uses, the settings it is created with, and
who writes and reads it.

Topics are created by the services at start-up (never by broker auto-creation) with
these explicit settings, and a topic that exists already is brought to its retention
(``shared.kafka.ensure_topics``). Case topics have several partitions keyed by case (or
encounter) id, so one case's events keep their order while cases spread over consumers.

A topic that carries a person's identity in plain text (``encounters.reported``: agencies
publish it, intake seals it into its vault at once) and its dead-letter topic keep their
records only ``CASEWORK_INBOUND_RETENTION_HOURS`` (docs/design.md, Retention).

``writers`` and ``readers`` name casework's services and the kinds of outside client
(:data:`CLIENTS`): the broker's ACLs are derived from them (:mod:`shared.acls`), and
``tests/unit/test_topology.py`` checks them against what each service's code subscribes
to and publishes. A dead-letter topic is written by the readers of its source and read by
operators only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

CASE_PARTITIONS = 3
DLQ_SUFFIX = ".dlq"
# An inbound message may be larger than the services accept (they dead-letter it with a
# clear error); the broker must still take it so that nothing is lost on the way in.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# A dead letter is the original plus its x-dlq-* headers: its topic takes that much more.
DLQ_HEADROOM = 1024 * 1024
AUDIT_RETENTION_MS = 7 * 365 * 24 * 3600 * 1000  # seven years
# Kept for replay, then dropped: an operator fixes the cause and replays within this time.
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000
# A weekend-long outage of intake; the default of CASEWORK_INBOUND_RETENTION_HOURS.
INBOUND_RETENTION_HOURS = 72
HOUR_MS = 3600 * 1000
# Kafka deletes whole segments, once their newest record is past the retention: a record
# outlives it by up to its segment's age. Where identity lives, a segment spans an hour.
IDENTITY_SEGMENT_MS = HOUR_MS


SERVICES = ("intake", "referral", "stabilization", "certification", "notify", "status")
# Outside clients, one principal per kind: agency systems (encounters, interview requests,
# certification requests and records), specialist apps (the specialists' actions, as the
# dashboard takes them), providers' systems (their answers), dashboards reading
# ``cases.status``, and operators (the ``casework`` tools: every topic read, every inbound
# topic written — roster and directory loads, replays of inbound dead letters — and the
# audit trail, where ``casework dlq list --reveal`` records its look before it shows).
CLIENTS = ("agency", "specialist_app", "provider_system", "dashboard_reader", "operator")
OPERATOR = "operator"
# What the dashboard does for a person: the inbound events of a specialist's actions.
ACTIONS = frozenset({"specialist_app", "status"})


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = CASE_PARTITIONS
    compacted: bool = False
    restricted: bool = False  # that a T or U visa case exists, or who read what: named readers only
    inbound: bool = False  # written by systems outside casework (agencies, specialist apps)
    plain_identity: bool = False  # carries a person's identity unsealed: kept only the inbound retention
    config: dict[str, str] = field(default_factory=dict)
    writers: frozenset[str] = frozenset()
    readers: frozenset[str] = frozenset()  # besides operators, who may read every topic

    def kafka_config(self) -> dict[str, str]:
        settings = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if self.compacted:
            settings |= {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return settings | self.config


def _who(*names: str) -> frozenset[str]:
    return frozenset(names)


FOLLOWERS = _who("intake", "stabilization", "notify", "status")  # of the referral service's word
_TOPICS = (
    # The person's identity in plain text: intake alone reads it, and seals it at once.
    TopicSpec("encounters.reported", inbound=True, plain_identity=True, writers=_who("agency"),
              readers=_who("intake")),
    TopicSpec("roster.specialists", partitions=1, compacted=True, inbound=True, writers=_who(OPERATOR),
              readers=_who("referral", "notify")),
    TopicSpec("providers.registered", partitions=1, compacted=True, inbound=True, writers=_who(OPERATOR),
              readers=_who("referral", "notify", "status")),
    TopicSpec("referrals.responded", inbound=True, writers=ACTIONS, readers=_who("referral")),
    TopicSpec("stabilization.recorded", inbound=True, writers=ACTIONS, readers=_who("stabilization")),
    TopicSpec("interviews.requested", inbound=True, writers=_who("agency"), readers=_who("stabilization")),
    TopicSpec("cases.closed", inbound=True, writers=ACTIONS, readers=_who("referral")),
    TopicSpec("cases.reopened", inbound=True, writers=ACTIONS, readers=_who("referral")),
    TopicSpec("referrals.reassigned", inbound=True, writers=ACTIONS, readers=_who("referral")),
    TopicSpec("services.requested", inbound=True, writers=ACTIONS, readers=_who("referral")),
    TopicSpec("services.responded", inbound=True, writers=_who("provider_system"), readers=_who("referral")),
    TopicSpec("consents.recorded", inbound=True, writers=ACTIONS, readers=_who("intake", "status")),
    TopicSpec("consents.revoked", inbound=True, writers=ACTIONS, readers=_who("intake", "status")),
    # Restricted though inbound: a T or U request or record reveals that such a case exists.
    TopicSpec("certifications.requested", inbound=True, restricted=True, writers=_who("agency"),
              readers=_who("certification")),
    TopicSpec("certifications.recorded", inbound=True, restricted=True, writers=_who("agency"),
              readers=_who("certification")),
    TopicSpec("cases.opened", writers=_who("intake"),
              readers=_who("intake", "referral", "stabilization", "notify", "status")),
    TopicSpec("intake.events", writers=_who("intake"), readers=_who("notify", "status")),
    TopicSpec("referrals.events", writers=_who("referral"), readers=FOLLOWERS),
    TopicSpec("services.events", writers=_who("referral"), readers=FOLLOWERS),
    # intake: a consent about to lapse, and lapsed
    TopicSpec("consents.events", writers=_who("intake"), readers=_who("notify", "status")),
    TopicSpec("stabilization.events", writers=_who("stabilization"), readers=_who("notify", "status")),
    TopicSpec("certifications.events", restricted=True, writers=_who("certification"),
              readers=_who("notify", "status")),
    # For the officials' own systems; no casework service reads it back.
    TopicSpec("certifications.status", compacted=True, restricted=True, writers=_who("certification")),
    TopicSpec("notifications.events", writers=_who("notify"), readers=_who("status")),
    # The status service reads its own stream back for the board (status/feed.py).
    TopicSpec("cases.status", compacted=True, writers=_who("status"), readers=_who("status", "dashboard_reader")),
    # Who read or did what: append-only, never compacted, kept for years; only the auditors'
    # page reads it (docs/design.md, Audit).
    # An operator's tool writes one record there: a look at dead letters' content (dlq.revealed).
    TopicSpec("audit.events", restricted=True, config={"retention.ms": str(AUDIT_RETENTION_MS)},
              writers=_who("intake", "status", OPERATOR), readers=_who("status")),
)

CATALOGUE: dict[str, TopicSpec] = {t.name: t for t in _TOPICS}
INBOUND_TOPICS = frozenset(t.name for t in _TOPICS if t.inbound)
RESTRICTED_TOPICS = frozenset(t.name for t in _TOPICS if t.restricted)


def spec(name: str, *, inbound_retention_hours: int = INBOUND_RETENTION_HOURS) -> TopicSpec:
    """The settings of a contract topic or of its dead-letter topic.

    ``inbound_retention_hours`` (``settings.intake.inbound_retention_hours``) is how long a
    topic carrying an identity in plain text keeps its records, and so does its dead-letter
    topic: a dead letter is the original, unchanged.
    """
    if name.endswith(DLQ_SUFFIX):
        source = spec(name.removesuffix(DLQ_SUFFIX), inbound_retention_hours=inbound_retention_hours)
        kept = identity_kept(inbound_retention_hours) if source.plain_identity else {
            "retention.ms": str(DLQ_RETENTION_MS)}
        return TopicSpec(name, partitions=1, restricted=source.restricted, plain_identity=source.plain_identity,
                         config=kept | {"max.message.bytes": str(MAX_MESSAGE_BYTES + DLQ_HEADROOM)},
                         writers=source.readers & frozenset(SERVICES))
    topic = CATALOGUE[name]
    if topic.plain_identity:
        return replace(topic, config=topic.config | identity_kept(inbound_retention_hours))
    return topic


def identity_kept(hours: int) -> dict[str, str]:
    """How long a topic holding an identity in plain text keeps a record: ``hours``, in
    segments of an hour at most (a record outlives the retention by its segment's age)."""
    if hours <= 0:
        raise ValueError(f"a retention of {hours} hours keeps nothing")
    return {"retention.ms": str(hours * HOUR_MS), "segment.ms": str(min(IDENTITY_SEGMENT_MS, hours * HOUR_MS))}


def dlq(name: str) -> str:
    return f"{name}{DLQ_SUFFIX}"
