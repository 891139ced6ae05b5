"""``audit.events``: who read or did what to which case, granted or refused (docs/design.md, Audit).

Append-only and restricted: written by the services that serve people (the dashboard,
intake's identity path) and by the operator's console where it shows content (``casework
dlq list --reveal``), read only by the one that serves the auditors' page. No PII: an
actor's id and role, an action from a fixed vocabulary, a case id, an outcome, a time.
"""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.common import Contract, Identifier, Payload, ShortText, Timestamp
from shared.contracts.inbound import ConsentScope


class AuditAction(StrEnum):
    IDENTITY_READ = "identity.read"
    IDENTITY_REFUSED = "identity.refused"
    CASE_VIEWED = "case.viewed"
    CASE_VIEW_REFUSED = "case.view_refused"
    REFERRAL_ACCEPTED = "referral.accepted"
    REFERRAL_DECLINED = "referral.declined"
    MILESTONE_RECORDED = "milestone.recorded"
    CASE_CLOSED = "case.closed"
    CASE_REOPENED = "case.reopened"
    REFERRAL_REASSIGNED = "referral.reassigned"
    SERVICE_REQUESTED = "service.requested"
    CONSENT_RECORDED = "consent.recorded"
    CONSENT_REVOKED = "consent.revoked"
    SIGNED_IN = "session.signed_in"
    SIGN_IN_FAILED = "session.sign_in_failed"
    SIGNED_OUT = "session.signed_out"
    AUDIT_VIEWED = "audit.viewed"
    DISCLOSURE_READ = "disclosure.read"  # a provider read what a consent lets it see
    DISCLOSURE_REFUSED = "disclosure.refused"  # a disclosure link that showed nothing
    DLQ_REVEALED = "dlq.revealed"  # an operator printed dead letters' content (``casework dlq list --reveal``)


class AuditOutcome(StrEnum):
    GRANTED = "granted"  # read, or the request published
    REFUSED = "refused"  # not this actor's to read or do
    INVALID = "invalid"  # a bad request body: nothing published


class AuditRole(StrEnum):
    """Dashboard roles, who acts without a token (a failed sign-in), and an operator at the
    console (``casework``, named by ``--operator``)."""

    SPECIALIST = "specialist"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    SERVICE_PROVIDER = "service_provider"  # through a disclosure link
    ANONYMOUS = "anonymous"
    OPERATOR = "operator"


class AuditActor(Contract):
    id: Identifier
    role: AuditRole


class AuditRecorded(Payload):
    TYPE = "casework.audit.recorded.v1"
    TOPIC = "audit.events"

    audit_id: Identifier
    actor: AuditActor
    action: AuditAction
    outcome: AuditOutcome
    at: Timestamp
    case_id: Identifier | None = None
    via: Identifier  # dashboard_api, dashboard_page, intake_vault, casework_cli
    event_id: ShortText | None = None  # the inbound event a granted action published
    service_request_id: Identifier | None = None  # a disclosure: the request its link belongs to
    scopes: list[ConsentScope] | None = None  # a disclosure: what was shown (consented scopes)
    refusal: Identifier | None = None  # a disclosure refused: why, as a code

    @property
    def subject(self) -> str:
        """Keyed by case (one case's trail in order), or by actor when there is no case."""
        return self.case_id or f"actor:{self.actor.id}"
