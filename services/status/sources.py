"""How each source's events change its own part of the read model (pure).

Within one topic a case's events share a key, so Kafka keeps them in the producer's
order and a redelivery is dropped by its event id before it gets here: the referral and
Continued Presence parts simply take the last event's word. The stabilization service
numbers its plan summaries, so the plan part keeps the highest ``plan_version`` even if
an old summary were read again under a new id.
"""

from __future__ import annotations

from typing import Any

from shared.contracts.certifications import (
    CERTIFICATION_EVENTS,
    CertificationExpiring,
    CertificationFacts,
    CertificationUpdateRejected,
)
from shared.contracts.common import Payload
from shared.contracts.inbound import CertificationKind
from shared.contracts.intake import CaseOpened
from shared.contracts.notifications import NOTIFICATION_EVENTS, NotificationEvent
from shared.contracts.referrals import (
    REFERRAL_EVENTS,
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
    ReferralEscalated,
)
from shared.contracts.stabilization import STABILIZATION_EVENTS, PlanEvent
from shared.contracts.status import ReferralStatus

from .state import ContinuedPresence, Opened, Plan, Referral

# What the service reads, one topic per entry (intake.events carries no case: see app).
INPUTS: tuple[tuple[type[Payload], ...], ...] = (
    (CaseOpened,), REFERRAL_EVENTS, STABILIZATION_EVENTS, CERTIFICATION_EVENTS, NOTIFICATION_EVENTS)


def kept(event: Any) -> bool:
    """Whether the read model takes an event at all: of certifications only Continued Presence
    (T and U dropped on arrival, never stored, counted or logged: P1); deliveries only with a case."""
    if isinstance(event, CertificationFacts | CertificationUpdateRejected):
        return is_continued_presence(event)
    if isinstance(event, NotificationEvent):
        return event.case_id is not None
    return True


def opened(event: CaseOpened) -> Opened:
    return Opened(
        encounter_id=event.encounter_id, agency_id=event.agency_id, region=event.region,
        opened_at=event.opened_at, priority=event.priority, minor=event.minor,
        categories=dict(event.screening.categories), indicator_count=event.screening.indicator_count,
        languages=list(event.languages), interpreter_needed=event.interpreter_needed,
        urgent_needs=[str(n) for n in event.urgent_needs],
    )


def referral(current: Referral, event: Any) -> Referral:
    """The referral part after a referral event; declines and rejected responses change nothing
    (a reassignment or ``CaseUnassigned`` follows a decline at once)."""
    first = current.first_assigned_at
    match event:
        case ReferralAssigned():
            return Referral(
                referral_id=event.referral_id, specialist_id=event.specialist_id,
                status=ReferralStatus.ASSIGNED, assigned_at=event.assigned_at, ack_due_at=event.ack_due_at,
                escalations=event.escalations, language_match=event.language_match,
                first_assigned_at=min(first, event.assigned_at) if first else event.assigned_at)
        case ReferralAccepted():
            return current.model_copy(update={
                "referral_id": event.referral_id, "specialist_id": event.specialist_id,
                "status": ReferralStatus.ACCEPTED, "assigned_at": event.assigned_at,
                "accepted_at": event.accepted_at, "ack_due_at": event.ack_due_at,
                "escalations": event.escalations})
        case ReferralEscalated():
            return current.model_copy(update={
                "referral_id": event.referral_id, "specialist_id": event.specialist_id,
                "status": ReferralStatus.ESCALATED, "assigned_at": event.assigned_at,
                "accepted_at": None, "ack_due_at": event.ack_due_at, "escalations": event.escalations})
        case CaseUnassigned():
            return Referral(status=ReferralStatus.UNASSIGNED, escalations=event.escalations,
                            first_assigned_at=first)
    return current


def plan(current: Plan | None, event: PlanEvent) -> Plan | None:
    """The newest plan summary wins; an older or equal one changes nothing."""
    summary = event.plan
    if current is not None and summary.plan_version <= current.plan_version:
        return current
    return Plan(
        plan_version=summary.plan_version, engaged=summary.engaged,
        needs_assessed=summary.needs_assessed,
        urgent_needs_open=[str(n) for n in summary.urgent_needs_open], interpreter=summary.interpreter,
        rights_explained=summary.rights_explained, hhs_notification=summary.hhs_notification,
        hhs_due_at=summary.hhs_due_at, interview_id=summary.interview.interview_id,
        interview_status=summary.interview.status,
        interview_reasons=[str(r) for r in summary.interview.reasons],
    )


def is_continued_presence(event: Any) -> bool:
    """Of certifications only Continued Presence is kept; T and U are dropped on arrival (P1).

    An event that does not say its kind (an update rejected for an unknown certification)
    may be about a T or U visa, so it is dropped too.
    """
    return getattr(event, "kind", None) == CertificationKind.CONTINUED_PRESENCE


def continued_presence(current: ContinuedPresence, event: Any) -> ContinuedPresence:
    """Status and validity after a CP event; a reminder or a rejected update changes nothing."""
    if not isinstance(event, CertificationFacts) or isinstance(event, CertificationExpiring):
        return current
    return ContinuedPresence(certification_id=event.certification_id, status=str(event.status),
                             valid_until=event.valid_until)
