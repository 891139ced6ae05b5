"""The JSON API's response shapes (they make the OpenAPI document). No PII anywhere."""

from __future__ import annotations

from pydantic import BaseModel

from shared.contracts.status import CaseStatus

from ..alerts import Alert
from ..state import Moment


class CardReferral(BaseModel):
    status: str
    referral_id: str | None
    specialist_id: str | None
    ack_due_at: str | None
    escalations: int
    handover_to: str | None = None  # a handover offered: the specialist above stays responsible
    needs_holder: bool = False
    unassigned_alerts: int = 0


class CardClosure(BaseModel):
    at: str | None
    reason: str | None


class CardCertification(BaseModel):
    status: str
    valid_until: str | None


class Card(BaseModel):
    """A case on the board: its snapshot's essentials and the flags to act on."""

    case_id: str
    encounter_id: str
    version: int
    agency_id: str
    region: str
    priority: str
    minor: bool
    stage: str
    opened_at: str | None
    updated_at: str | None
    referral: CardReferral
    interpreter: str
    hhs_notification: str
    hhs_due_at: str | None
    urgent_needs_open: list[str]
    interview: str
    continued_presence: CardCertification
    closure: CardClosure | None = None
    reopen_count: int = 0
    flags: list[str]


class Attention(BaseModel):
    awaiting_acceptance: int
    overdue: int
    escalated: int
    unassigned: int
    unassigned_realerted: int  # unassigned cases whose supervisors were alerted more than once
    unassigned_realerts: int  # the re-alerts of those cases, together
    needs_holder: int  # cases whose accepting specialist left: a supervisor must reassign them
    handovers: int  # handovers offered and not yet accepted
    hhs_due: int
    hhs_overdue: int
    cp_expiring: int
    cp_expired: int


class BoardView(BaseModel):
    now: str | None
    totals: dict[str, int]
    attention: Attention
    columns: dict[str, list[Card]]
    alerts: list[Alert]  # encounters intake could not read: a person may be waiting (supervisors only)


class CaseList(BaseModel):
    stage: str
    total: int
    limit: int
    offset: int
    items: list[Card]


class CaseDetail(BaseModel):
    case: CaseStatus
    first_assigned_at: str | None
    timeline: list[Moment]


class Timing(BaseModel):
    p50_seconds: float | None
    p90_seconds: float | None
    cases: int


class Sla(Attention):
    cases_with_missed_acknowledgement: int
    missed_acknowledgements: int


class Aggregates(BaseModel):
    now: str | None
    window_days: int
    cases: int
    by_stage: dict[str, dict[str, int]]
    time_to_assignment: Timing
    time_to_acceptance: Timing
    time_to_close: Timing  # of the closed cases opened within the window: opened to closed
    closed_by_reason: dict[str, int]
    sla: Sla
    urgent_needs_open: dict[str, int]


class Provider(BaseModel):
    provider_id: str
    name: str
    kinds: list[str]
    regions: list[str]
    languages: list[str]
    accepting: bool


class ProviderList(BaseModel):
    items: list[Provider]


class Me(BaseModel):
    name: str
    role: str
    agencies: list[str]
    specialist_id: str | None


class AuditActorView(BaseModel):
    id: str
    role: str


class AuditEntry(BaseModel):
    """One record of the audit trail: who, what, which case, granted or refused, when."""

    audit_id: str
    actor: AuditActorView
    action: str
    outcome: str
    at: str
    case_id: str | None
    via: str
    event_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    limit: int
    offset: int
    more: bool  # records after this page
