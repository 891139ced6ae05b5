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
from shared.contracts.consents import CONSENT_EVENTS
from shared.contracts.inbound import CertificationKind, ConsentRecorded, ConsentRevoked, ReassignmentReason
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn
from shared.contracts.notifications import NOTIFICATION_EVENTS, NotificationEvent
from shared.contracts.referrals import (
    REFERRAL_EVENTS,
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    ReferralAccepted,
    ReferralAssigned,
    ReferralEscalated,
    ReferralReleased,
    ReleaseReason,
)
from shared.contracts.stabilization import STABILIZATION_EVENTS, PlanEvent
from shared.contracts.status import ReferralStatus, ServiceStatus
from shared.contracts.support import (
    SERVICE_EVENTS,
    ServiceAccepted,
    ServiceCompleted,
    ServiceDeclined,
    ServiceEvent,
    ServiceRequestSent,
    ServiceUnanswered,
)

from .state import ContinuedPresence, Correction, Life, Move, Opened, Plan, Referral, Service

MOVES_KEPT = 50  # a case is moved a handful of times; the newest kept

# What the service reads, one topic per entry (intake.events carries no case: see app).
INPUTS: tuple[tuple[type[Payload], ...], ...] = (
    (CaseOpened, CaseCorrected, CaseWithdrawn), REFERRAL_EVENTS, STABILIZATION_EVENTS, CERTIFICATION_EVENTS,
    NOTIFICATION_EVENTS, SERVICE_EVENTS, (ConsentRecorded,), (ConsentRevoked,), CONSENT_EVENTS)
# What each service event makes of its request (a refusal changes none: a timeline line only).
SERVICE_STATUS: dict[type[ServiceEvent], ServiceStatus] = {
    ServiceRequestSent: ServiceStatus.REQUESTED, ServiceAccepted: ServiceStatus.ACCEPTED,
    ServiceDeclined: ServiceStatus.DECLINED, ServiceCompleted: ServiceStatus.COMPLETED,
    ServiceUnanswered: ServiceStatus.UNANSWERED}
ENDED_SERVICES = frozenset({ServiceStatus.DECLINED, ServiceStatus.COMPLETED})


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
        urgent_needs=[str(n) for n in event.urgent_needs], revision=event.revision,
    )


def referral(current: Referral, event: Any) -> Referral:
    """The referral part after a referral event; declines and rejected responses change nothing
    (a reassignment or ``CaseUnassigned`` follows a decline at once).

    An escalation stays visible until the next specialist accepts: a ``ReferralAssigned``
    after ``ReferralEscalated`` keeps the status ``escalated``. A handover
    (``handover_from``) keeps the accepted holder and notes who it is offered to, until that
    specialist accepts or ``HolderKept`` says the holder keeps the case."""
    first = current.first_assigned_at
    match event:
        case ReferralAssigned() if event.handover_from is not None and current.status == ReferralStatus.ACCEPTED:
            return current.model_copy(update={
                "handover_to": event.specialist_id, "handover_referral_id": event.referral_id,
                "escalations": event.escalations})
        case ReferralAssigned():
            return Referral(
                referral_id=event.referral_id, specialist_id=event.specialist_id,
                status=ReferralStatus.ESCALATED if current.escalated else ReferralStatus.ASSIGNED,
                assigned_at=event.assigned_at, ack_due_at=event.ack_due_at,
                escalations=event.escalations, language_match=event.language_match,
                first_assigned_at=min(first, event.assigned_at) if first else event.assigned_at,
                escalated=current.escalated, needs_holder=current.needs_holder)
        case ReferralAccepted():
            return current.model_copy(update={
                "referral_id": event.referral_id, "specialist_id": event.specialist_id,
                "status": ReferralStatus.ACCEPTED, "assigned_at": event.assigned_at,
                "accepted_at": event.accepted_at, "ack_due_at": event.ack_due_at,
                "escalations": event.escalations, "escalated": False, "handover_to": None,
                "handover_referral_id": None, "needs_holder": False, "unassigned_alerts": 0})
        case ReferralEscalated():
            return current.model_copy(update={
                "referral_id": event.referral_id, "specialist_id": event.specialist_id,
                "status": ReferralStatus.ESCALATED, "assigned_at": event.assigned_at,
                "accepted_at": None, "ack_due_at": event.ack_due_at, "escalations": event.escalations,
                "escalated": True})
        case CaseUnassigned():
            return Referral(status=ReferralStatus.UNASSIGNED, escalations=event.escalations,
                            first_assigned_at=first, escalated=current.escalated,
                            needs_holder=current.needs_holder, unassigned_alerts=event.alert)
        case HolderKept():
            return current.model_copy(update={
                "referral_id": event.referral_id, "specialist_id": event.specialist_id,
                "status": ReferralStatus.ACCEPTED, "assigned_at": event.assigned_at,
                "accepted_at": event.accepted_at, "ack_due_at": event.ack_due_at,
                "escalations": event.escalations, "handover_to": None, "handover_referral_id": None})
        case ReferralReleased() if event.reason == ReleaseReason.HANDED_OVER:
            return current  # the new holder's ReferralAccepted says who holds the case
        case ReferralReleased() if event.referral_id == current.referral_id and current.handover_to is not None:
            return current  # the holder's slot, freed as the handover completes: the accept says who holds it
        case ReferralReleased() if event.referral_id == current.handover_referral_id:
            return current.model_copy(update={"handover_to": None, "handover_referral_id": None})
        case ReferralReleased() if event.referral_id == current.referral_id:
            return Referral(status=ReferralStatus.UNASSIGNED, escalations=event.escalations,
                            first_assigned_at=first, escalated=current.escalated,
                            needs_holder=current.needs_holder, released_specialist_id=event.specialist_id)
        case CaseNeedsHolder():
            return current.model_copy(update={"needs_holder": True, "escalations": event.escalations})
        case CaseClosureApplied():
            return current.model_copy(update={"escalated": False, "handover_to": None,
                                              "handover_referral_id": None, "needs_holder": False})
    return current


def life(current: Life, event: Any, previous: Referral) -> Life:
    """Closure, reopening and the reassignments (``previous``: the referral part before the event)."""
    match event:
        case CaseClosureApplied():
            return current.model_copy(update={"closed_at": event.closed_at, "closure_reason": str(event.reason)})
        case CaseReopeningApplied():
            return current.model_copy(update={"closed_at": None, "closure_reason": None,
                                              "reopen_count": max(current.reopen_count, event.reopen_count)})
        case ReferralAssigned() if event.reassigned_by is not None:
            move = Move(at=event.assigned_at, from_specialist_id=event.handover_from or previous.specialist_id
                        or previous.released_specialist_id, to_specialist_id=event.specialist_id,
                        reason=str(event.reassignment_reason or ReassignmentReason.OTHER),
                        requested_by_role=str(event.reassigned_by.role))
            return current.model_copy(update={"reassignments": [*current.reassignments, move][-MOVES_KEPT:]})
    return current


def correction(current: Correction | None, event: CaseCorrected) -> Correction | None:
    """The highest revision wins; an older or equal one changes nothing."""
    if current is not None and event.revision <= current.revision:
        return current
    return Correction(revision=event.revision, priority=event.priority, minor=event.minor,
                      categories=dict(event.screening.categories), indicator_count=event.screening.indicator_count,
                      languages=list(event.languages), interpreter_needed=event.interpreter_needed,
                      urgent_needs=[str(n) for n in event.urgent_needs])


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


def service(services: dict[str, Service], event: ServiceEvent, at: Any) -> dict[str, Service]:
    """A request's line after one of its events. Within the topic a case's events keep their
    order; an ended request (declined, completed) is not reopened by a late "unanswered"."""
    status = SERVICE_STATUS[type(event)]
    known = services.get(event.service_request_id)
    if known is not None and ServiceStatus(known.status) in ENDED_SERVICES and status == ServiceStatus.UNANSWERED:
        return services
    line = known or Service(service_request_id=event.service_request_id, need=event.need.value,
                            provider_id=event.provider_id, status=status.value, requested_at=at, updated_at=at)
    update: dict[str, Any] = {"status": status.value, "updated_at": at}
    if isinstance(event, ServiceRequestSent):
        update |= {"requested_at": event.requested_at, "respond_by": event.respond_by,
                   "share": list(dict.fromkeys(s.value for s in event.share))}
    if isinstance(event, ServiceDeclined):
        update |= {"reason": event.reason.value if event.reason else None, "next_provider_id": event.next_provider_id}
    if isinstance(event, ServiceUnanswered):
        update["next_provider_id"] = event.next_provider_id
    return {**services, event.service_request_id: line.model_copy(update=update)}


