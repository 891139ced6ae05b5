"""The read model of one case: what each source said last, and the case's timeline.

Stored as JSON in the case's document (one per case: docs/design.md, One document per
aggregate). Each source keeps its own part, so the order in which the topics arrive does
not matter: a referral event only ever replaces the referral part, a plan summary only the
plan part (and only by a higher ``plan_version``). The snapshot is computed from the parts
(see :mod:`.domain`).

No field holds anything about the person (rule 7, P2), nor about T or U visas (P1).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.consent import Consent
from shared.contracts.common import Priority
from shared.contracts.status import HhsNotification, InterpreterStatus, InterviewStatus, ReferralStatus

TIMELINE_LIMIT = 200  # newest moments kept per case; a case hears a few dozen events


class Opened(BaseModel):
    """What ``cases.opened`` said: the snapshot cannot be built before it arrived."""

    encounter_id: str
    agency_id: str
    region: str
    opened_at: datetime
    priority: Priority
    minor: bool
    categories: dict[str, int]
    indicator_count: int
    languages: list[str]
    interpreter_needed: bool
    urgent_needs: list[str]
    revision: int = 0


class Correction(BaseModel):
    """The highest revision of the encounter (``casework.case.corrected.v1``): it replaces what
    the first report said about priority, minor status, screening and languages."""

    revision: int
    priority: Priority
    minor: bool
    categories: dict[str, int]
    indicator_count: int
    languages: list[str]
    interpreter_needed: bool
    urgent_needs: list[str]


class Referral(BaseModel):
    """The case's current referral, as the last ``referrals.events`` event left it."""

    referral_id: str | None = None
    specialist_id: str | None = None
    status: ReferralStatus = ReferralStatus.UNASSIGNED
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    ack_due_at: datetime | None = None
    escalations: int = 0
    language_match: bool | None = None
    first_assigned_at: datetime | None = None  # read model only: time to first assignment
    escalated: bool = False  # escalated since the last acceptance: the status stays so until one
    handover_to: str | None = None  # a handover offered: the holder above stays responsible
    handover_referral_id: str | None = None
    needs_holder: bool = False  # the accepting specialist left: until a new holder accepts
    unassigned_alerts: int = 0  # the latest CaseUnassigned.alert while unassigned
    released_specialist_id: str | None = None  # whose referral was released last (no response)


class Move(BaseModel):
    """One reassignment or handover the referral service applied (ids and codes only)."""

    at: datetime
    from_specialist_id: str | None = None
    to_specialist_id: str
    reason: str
    requested_by_role: str


class Life(BaseModel):
    """Closure, reopening and reassignment, as the referral service applied them."""

    closed_at: datetime | None = None
    closure_reason: str | None = None
    reopen_count: int = 0
    reassignments: list[Move] = Field(default_factory=list)


class Plan(BaseModel):
    """The newest stabilization plan summary (highest ``plan_version``)."""

    plan_version: int = 0
    engaged: bool = False
    needs_assessed: bool = False
    urgent_needs_open: list[str] = Field(default_factory=list)
    interpreter: InterpreterStatus = InterpreterStatus.NOT_NEEDED
    rights_explained: bool = False
    hhs_notification: HhsNotification = HhsNotification.NOT_REQUIRED
    hhs_due_at: datetime | None = None
    interview_id: str | None = None
    interview_status: InterviewStatus = InterviewStatus.NOT_REQUESTED
    interview_reasons: list[str] = Field(default_factory=list)


class ContinuedPresence(BaseModel):
    """Continued Presence only (C1-C3): T and U records never get here (P1)."""

    certification_id: str | None = None
    status: str = "not_requested"
    valid_until: datetime | None = None


class Service(BaseModel):
    """One support-service request as the case page shows it (the provider: the accepting
    specialist only; ``cases.status`` never names it)."""

    service_request_id: str
    need: str
    provider_id: str
    status: str  # ServiceStatus
    requested_at: datetime
    updated_at: datetime
    respond_by: datetime | None = None
    reason: str | None = None  # why declined
    next_provider_id: str | None = None  # who to ask next, after a decline or no answer
    share: list[str] = Field(default_factory=list)  # the scopes the specialist asked to share (ConsentScope)


class Moment(BaseModel):
    """One line of the case's timeline: ids, codes and times, never free text from a person."""

    at: datetime
    source: str  # the topic it came from
    kind: str  # e.g. referral_assigned
    text: str


class CaseView(BaseModel):
    """The status service's aggregate for one case."""

    case_id: str
    opened: Opened | None = None
    referral: Referral = Field(default_factory=Referral)
    plan: Plan | None = None
    correction: Correction | None = None
    life: Life = Field(default_factory=Life)
    continued_presence: ContinuedPresence = Field(default_factory=ContinuedPresence)
    services: dict[str, Service] = Field(default_factory=dict)  # by service request id
    consents: dict[str, Consent] = Field(default_factory=dict)  # by consent id
    revoked_consents: dict[str, datetime] = Field(default_factory=dict)  # also before the consent arrives
    version: int = 0  # snapshot-bearing events folded so far (see domain.fold)
    updated_at: datetime | None = None
    timeline: list[Moment] = Field(default_factory=list)
