"""``cases.status``: the whole current snapshot of a case, compacted by case id
(docs/design.md, Outbound topics).

No PII, and nothing about T or U visas (P1): of certifications only Continued Presence.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from shared.contracts.common import Contract, Identifier, LanguageTag, Payload, Priority, Region, Timestamp
from shared.contracts.inbound import ActorRole, ClosureReason, ProviderKind, ReassignmentReason
from shared.contracts.intake import Screening


class Stage(StrEnum):
    REFERRAL = "referral"
    ENGAGED = "engaged"
    STABILIZING = "stabilizing"
    INTERVIEW_CLEARED = "interview_cleared"
    CLOSED = "closed"


class ServiceStatus(StrEnum):
    REQUESTED = "requested"  # sent to the provider, no answer yet
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    UNANSWERED = "unanswered"  # the provider let its deadline pass (it may still answer)


class InterpreterStatus(StrEnum):
    NOT_NEEDED = "not_needed"
    NEEDED = "needed"
    ARRANGED = "arranged"


class ReferralStatus(StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    ESCALATED = "escalated"
    UNASSIGNED = "unassigned"


class HhsNotification(StrEnum):
    NOT_REQUIRED = "not_required"
    DUE = "due"
    DONE = "done"
    OVERDUE = "overdue"


class InterviewStatus(StrEnum):
    NOT_REQUESTED = "not_requested"
    DEFERRED = "deferred"
    CLEARED = "cleared"


class ReferralView(Contract):
    referral_id: Identifier | None = None
    specialist_id: Identifier | None = None
    status: ReferralStatus = ReferralStatus.UNASSIGNED
    assigned_at: Timestamp | None = None
    accepted_at: Timestamp | None = None
    ack_due_at: Timestamp | None = None
    escalations: int = Field(default=0, ge=0)
    # A handover in progress: the holder above stays responsible until this specialist accepts.
    handover_to: Identifier | None = None
    needs_holder: bool = False  # the accepting specialist left the roster
    # While unassigned: how many times the supervisors were alerted so far (CaseUnassigned.alert).
    unassigned_alerts: int = Field(default=0, ge=0)


class Closure(Contract):
    at: Timestamp
    reason: ClosureReason


class Reassignment(Contract):
    at: Timestamp
    from_specialist_id: Identifier | None = None
    to_specialist_id: Identifier
    reason: ReassignmentReason
    requested_by_role: ActorRole


class InterviewView(Contract):
    interview_id: Identifier | None = None
    status: InterviewStatus = InterviewStatus.NOT_REQUESTED
    reasons: list[str] = Field(default_factory=list)


class StabilizationView(Contract):
    needs_assessed: bool = False
    urgent_needs_open: list[str] = Field(default_factory=list)
    hhs_notification: HhsNotification = HhsNotification.NOT_REQUIRED
    interview: InterviewView = Field(default_factory=InterviewView)


class ContinuedPresenceView(Contract):
    status: str = "not_requested"
    valid_until: Timestamp | None = None


class ServiceView(Contract):
    """One support-service request: its need and where it stands. Never the provider: a
    shelter's identity may put a person in danger (the accepting specialist sees it on the
    case page)."""

    service_request_id: Identifier
    need: ProviderKind
    status: ServiceStatus


class CaseStatus(Payload):
    TYPE = "casework.case.status.v1"
    TOPIC = "cases.status"

    case_id: Identifier
    encounter_id: Identifier
    version: int = Field(ge=1)
    agency_id: Identifier
    region: Region
    opened_at: Timestamp
    updated_at: Timestamp
    priority: Priority
    minor: bool
    stage: Stage
    screening: Screening
    languages: list[LanguageTag]
    interpreter: InterpreterStatus
    referral: ReferralView
    stabilization: StabilizationView
    continued_presence: ContinuedPresenceView
    # v1 additions: a case's whole life (ids and enumerations only).
    closure: Closure | None = None
    reopen_count: int = Field(default=0, ge=0)
    reassignments: list[Reassignment] = Field(default_factory=list)
    revision: int = Field(default=0, ge=0)
    services: list[ServiceView] = Field(default_factory=list)
