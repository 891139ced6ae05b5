"""The audit trail's one writer: a record published and acknowledged by the broker before
the caller goes on (an identity is shown only once its read is on record)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from shared.cloudevents import encode, new_event
from shared.contracts.audit import AuditAction, AuditActor, AuditOutcome, AuditRecorded, AuditRole
from shared.contracts.common import IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN
from shared.contracts.inbound import ConsentScope
from shared.kit.clock import Clock
from shared.kit.outbox import entry
from shared.kit.ports import Publisher

_ID = re.compile(IDENTIFIER_PATTERN)


def as_identifier(value: str | None) -> str | None:
    """A requested id as the trail may hold it: untrusted text that is not an id is not kept."""
    if value and len(value) <= IDENTIFIER_MAX_LENGTH and _ID.fullmatch(value):
        return value
    return None


@dataclass(frozen=True)
class Disclosure:
    """What an audited disclosure concerns: its request, the scopes shown, or why none."""

    service_request_id: str
    scopes: list[ConsentScope] | None = None
    refusal: str | None = None


class AuditTrail:
    def __init__(self, publisher: Publisher, *, source: str, clock: Clock) -> None:
        self.publisher, self.source, self.clock = publisher, source, clock

    async def record(self, *, actor_id: str, role: AuditRole | str, action: AuditAction, outcome: AuditOutcome,
                     via: str, case_id: str | None = None, event_id: str | None = None,
                     disclosure: Disclosure | None = None) -> AuditRecorded:
        record, outgoing = self.entry(actor_id=actor_id, role=role, action=action, outcome=outcome, via=via,
                                      case_id=case_id, event_id=event_id, disclosure=disclosure)
        await self.publisher.send([outgoing])
        return record

    def entry(self, *, actor_id: str, role: AuditRole | str, action: AuditAction, outcome: AuditOutcome,
              via: str, case_id: str | None = None, event_id: str | None = None,
              disclosure: Disclosure | None = None) -> tuple[AuditRecorded, dict[str, Any]]:
        """The record and its outbox entry, for a caller that sends it with what it audits."""
        now = self.clock.now()
        record = AuditRecorded(audit_id=str(uuid.uuid4()),
                               actor=AuditActor(id=as_identifier(actor_id) or "unknown", role=AuditRole(role)),
                               action=action, outcome=outcome, at=now, case_id=as_identifier(case_id), via=via,
                               event_id=event_id,
                               service_request_id=disclosure.service_request_id if disclosure else None,
                               scopes=disclosure.scopes if disclosure else None,
                               refusal=disclosure.refusal if disclosure else None)
        event = new_event(record, event_id=record.audit_id, source=self.source, time=now)
        return record, entry(record.audit_id, record.TOPIC, record.subject, encode(event), None, record.TYPE)
