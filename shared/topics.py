"""The topic catalogue: every topic the system uses, with the settings it is created with.

Topics are created by the services at start-up (never by broker auto-creation) with
these explicit settings. Case topics have several partitions keyed by case (or encounter)
id, so one case's events keep their order while cases spread over consumers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CASE_PARTITIONS = 3
DLQ_SUFFIX = ".dlq"
# An inbound message may be larger than the services accept (they dead-letter it with a
# clear error); the broker must still take it so that nothing is lost on the way in.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# A dead letter is the original plus its x-dlq-* headers: its topic takes that much more.
DLQ_HEADROOM = 1024 * 1024
AUDIT_RETENTION_MS = 7 * 365 * 24 * 3600 * 1000  # seven years


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = CASE_PARTITIONS
    compacted: bool = False
    restricted: bool = False  # Kafka ACLs in production: only named services read it
    inbound: bool = False  # written by systems outside casework (agencies, specialist apps)
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        settings = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if self.compacted:
            settings |= {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return settings | self.config


_TOPICS = (
    TopicSpec("encounters.reported", inbound=True),
    TopicSpec("roster.specialists", partitions=1, compacted=True, inbound=True),
    TopicSpec("providers.registered", partitions=1, compacted=True, inbound=True),
    TopicSpec("referrals.responded", inbound=True),
    TopicSpec("stabilization.recorded", inbound=True),
    TopicSpec("interviews.requested", inbound=True),
    TopicSpec("cases.closed", inbound=True),
    TopicSpec("cases.reopened", inbound=True),
    TopicSpec("referrals.reassigned", inbound=True),
    TopicSpec("services.requested", inbound=True),
    TopicSpec("services.responded", inbound=True),
    TopicSpec("consents.recorded", inbound=True),
    TopicSpec("consents.revoked", inbound=True),
    # Restricted though inbound: a T or U request or record reveals that such a case exists.
    TopicSpec("certifications.requested", inbound=True, restricted=True),
    TopicSpec("certifications.recorded", inbound=True, restricted=True),
    TopicSpec("cases.opened"),
    TopicSpec("intake.events"),
    TopicSpec("referrals.events"),
    TopicSpec("services.events"),
    TopicSpec("consents.events"),  # intake: a consent about to lapse, and lapsed
    TopicSpec("stabilization.events"),
    TopicSpec("certifications.events", restricted=True),
    TopicSpec("certifications.status", compacted=True, restricted=True),
    TopicSpec("notifications.events"),
    TopicSpec("cases.status", compacted=True),
    # Who read or did what: append-only, never compacted, kept for years; only the auditors'
    # page reads it (docs/design.md, Audit).
    TopicSpec("audit.events", restricted=True, config={"retention.ms": str(AUDIT_RETENTION_MS)}),
)

CATALOGUE: dict[str, TopicSpec] = {t.name: t for t in _TOPICS}
INBOUND_TOPICS = frozenset(t.name for t in _TOPICS if t.inbound)
RESTRICTED_TOPICS = frozenset(t.name for t in _TOPICS if t.restricted)


def spec(name: str) -> TopicSpec:
    """The settings of a contract topic or of its dead-letter topic."""
    if name.endswith(DLQ_SUFFIX):
        source = CATALOGUE[name.removesuffix(DLQ_SUFFIX)]
        # Kept 30 days for replay, then dropped: a dead letter may hold an encounter's PII.
        return TopicSpec(name, partitions=1, restricted=source.restricted,
                         config={"retention.ms": str(30 * 24 * 3600 * 1000),
                                 "max.message.bytes": str(MAX_MESSAGE_BYTES + DLQ_HEADROOM)})
    return CATALOGUE[name]


def dlq(name: str) -> str:
    return f"{name}{DLQ_SUFFIX}"
