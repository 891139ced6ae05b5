"""Which events are notifications, of what kind, to whom (docs/design.md, Notifications; pure).

Each notifiable event becomes one :class:`Plan`: its kind, the case reference, a deadline,
the facts the message needs (ids, codes and times only: never free text from upstream,
which cannot be checked for PII), the recipients, and the supervisors to alert if a
delivery fails for good.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shared.contracts.certifications import (
    CertificationExpired,
    CertificationExpiring,
    ContinuedPresenceRoutedToHsi,
)
from shared.contracts.consents import ConsentExpiring, ConsentLapsed
from shared.contracts.inbound import ActorRole, ClosureReason
from shared.contracts.intake import EncounterUnprocessable
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    NotificationScope,
    ReferralAssigned,
    ReferralEscalated,
    ReferralReleased,
    ReleaseReason,
)
from shared.contracts.stabilization import (
    HhsNotificationDue,
    HhsNotificationOverdue,
    InterviewCleared,
    InterviewDeferred,
)
from shared.contracts.support import ServiceDeclined, ServiceRequestSent, ServiceUnanswered

from .audience import Contact, Directory, unique


class Kind(StrEnum):
    REFERRAL_ASSIGNED = "referral_assigned"
    REFERRAL_ESCALATED = "referral_escalated"
    CASE_UNASSIGNED = "case_unassigned"
    INTERVIEW_DEFERRED = "interview_deferred"
    INTERVIEW_CLEARED = "interview_cleared"
    HHS_NOTIFICATION_DUE = "hhs_notification_due"
    HHS_NOTIFICATION_OVERDUE = "hhs_notification_overdue"
    CERTIFICATION_EXPIRING = "certification_expiring"
    CERTIFICATION_EXPIRED = "certification_expired"
    CONTINUED_PRESENCE_ROUTED_TO_HSI = "continued_presence_routed_to_hsi"
    ENCOUNTER_UNPROCESSABLE = "encounter_unprocessable"
    NOTIFICATION_FAILED = "notification_failed"
    REFERRAL_REASSIGNED = "referral_reassigned"
    HANDED_OVER = "handed_over"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"
    CASE_WITHDRAWN = "case_withdrawn"
    CASE_NEEDS_HOLDER = "case_needs_holder"
    SERVICE_REQUESTED = "service_requested"
    SERVICE_DECLINED = "service_declined"
    SERVICE_UNANSWERED = "service_unanswered"
    CONSENT_EXPIRING = "consent_expiring"
    CONSENT_LAPSED = "consent_lapsed"


# Certification notifications travel by mail and webhook only (P1, 8 U.S.C. 1367).
RESTRICTED = frozenset({Kind.CERTIFICATION_EXPIRING, Kind.CERTIFICATION_EXPIRED,
                        Kind.CONTINUED_PRESENCE_ROUTED_TO_HSI})

Facts = dict[str, Any]  # str, int, bool or list[str] values: stored as they are


@dataclass(frozen=True)
class Plan:
    kind: Kind
    reference: str
    case_id: str | None
    recipients: list[Contact]
    fallback: list[Contact]  # alerted when a delivery fails for good
    facts: Facts = field(default_factory=dict)
    deadline: datetime | None = None
    region: str | None = None
    agency_id: str | None = None

    @property
    def restricted(self) -> bool:
        return self.kind in RESTRICTED


_CODE = re.compile(r"^[A-Za-z0-9_.:/-]{1,100}$")


def text(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def code(value: str | None) -> str | None:
    """A code or coordinate as it is, anything looking like prose dropped."""
    return value if value is not None and _CODE.match(value) else None


def supervisors(directory: Directory, scope: NotificationScope, region: str, agency_id: str | None) -> list[Contact]:
    """Escalations: the region's supervisors, or every one on duty when ``scope`` is ``all``
    (and when none is on duty at all, every supervisor of the agency)."""
    if scope is NotificationScope.ALL:
        return directory.everyone(agency_id)
    return directory.region_or_everyone(region, agency_id)


def referral_assigned(e: ReferralAssigned, d: Directory) -> Plan:
    """An ordinary assignment; one a supervisor or the holder asked for is ``referral_reassigned``."""
    facts: Facts = {"referral_id": e.referral_id, "priority": e.priority.value, "attempt": e.attempt,
                    "language_match": e.language_match}
    kind = Kind.REFERRAL_ASSIGNED
    if e.reassigned_by is not None:
        kind = Kind.REFERRAL_REASSIGNED
        facts |= {"requested_by_role": e.reassigned_by.role.value,
                  "reassignment_reason": e.reassignment_reason.value if e.reassignment_reason else None,
                  "handover_from": e.handover_from}
    return Plan(kind, e.case_id, e.case_id, [d.contact(e.specialist_id)],
                d.region_or_everyone(e.region, e.agency_id), deadline=e.ack_due_at, region=e.region,
                agency_id=e.agency_id, facts=facts)


def handed_over(e: ReferralReleased | HolderKept, d: Directory) -> Plan:
    """The holder of a handover: it went through (the new specialist accepted), a supervisor moved
    the case away from them, or they keep the case (the offer was declined or missed)."""
    if isinstance(e, HolderKept):
        outcome = "kept"
    else:
        outcome = "accepted" if e.reason is ReleaseReason.HANDED_OVER else "reassigned"
    facts: Facts = {"referral_id": e.referral_id, "priority": e.priority.value, "outcome": outcome}
    if isinstance(e, HolderKept):
        facts["declined_referral_id"] = e.declined_referral_id
    return Plan(Kind.HANDED_OVER, e.case_id, e.case_id, [d.contact(e.specialist_id)],
                d.region_or_everyone(e.region, e.agency_id), region=e.region, agency_id=e.agency_id, facts=facts)


def case_closed(e: CaseClosureApplied, d: Directory) -> Plan:
    """A withdrawal tells the specialist who had the case; a supervisor's closure tells the holder."""
    assert e.released_specialist_id is not None  # see WANTED
    withdrawn = e.reason is ClosureReason.WITHDRAWN
    facts: Facts = {"reason": e.reason.value, "closed_at": text(e.closed_at), "priority": e.priority.value}
    if e.closed_by is not None:
        facts |= {"closed_by_role": e.closed_by.role.value, "closed_by": e.closed_by.id}
    return Plan(Kind.CASE_WITHDRAWN if withdrawn else Kind.CASE_CLOSED, e.case_id, e.case_id,
                [d.contact(e.released_specialist_id)], d.region_or_everyone(e.region, e.agency_id),
                region=e.region, agency_id=e.agency_id, facts=facts)


def case_reopened(e: CaseReopeningApplied, d: Directory) -> Plan:
    """The previous holder (the case returns to them when they can take it, else it is matched anew;
    the new holder hears of it by ``referral_assigned``)."""
    assert e.previous_specialist_id is not None  # see WANTED
    return Plan(Kind.CASE_REOPENED, e.case_id, e.case_id, [d.contact(e.previous_specialist_id)],
                d.region_or_everyone(e.region, e.agency_id), region=e.region, agency_id=e.agency_id,
                facts={"reason": e.reason.value, "reopened_by_role": e.reopened_by.role.value,
                       "reopen_count": e.reopen_count, "priority": e.priority.value})


def case_needs_holder(e: CaseNeedsHolder, d: Directory) -> Plan:
    return Plan(Kind.CASE_NEEDS_HOLDER, e.case_id, e.case_id, supervisors(d, e.scope, e.region, e.agency_id),
                d.everyone(e.agency_id), region=e.region, agency_id=e.agency_id,
                facts={"referral_id": e.referral_id, "specialist_id": e.specialist_id,
                       "priority": e.priority.value, "flagged_at": text(e.flagged_at), "scope": e.scope.value})


def referral_escalated(e: ReferralEscalated, d: Directory) -> Plan:
    return Plan(Kind.REFERRAL_ESCALATED, e.case_id, e.case_id, supervisors(d, e.scope, e.region, e.agency_id),
                d.everyone(e.agency_id), region=e.region, agency_id=e.agency_id,
                facts={"referral_id": e.referral_id, "specialist_id": e.specialist_id,
                       "priority": e.priority.value, "ack_due_at": text(e.ack_due_at),
                       "escalations": e.escalations, "scope": e.scope.value})


def case_unassigned(e: CaseUnassigned, d: Directory) -> Plan:
    """Each alert of an unassigned case (1, then one per re-alert) is its own notification."""
    return Plan(Kind.CASE_UNASSIGNED, e.case_id, e.case_id, supervisors(d, e.scope, e.region, e.agency_id),
                d.everyone(e.agency_id), region=e.region, agency_id=e.agency_id,
                facts={"priority": e.priority.value, "unassigned_at": text(e.unassigned_at),
                       "escalations": e.escalations, "scope": e.scope.value, "alert": e.alert})


def interview(kind: Kind, e: InterviewDeferred | InterviewCleared, d: Directory, facts: Facts) -> Plan:
    """The requesting officer (when they gave an e-mail) and the case's specialist."""
    officer = [Contact.officer(e.requested_by.officer_id, e.requested_by.email)] if e.requested_by.email else []
    specialist = [d.contact(e.specialist_id)] if e.specialist_id else d.case_specialist(e.case_id)
    region = e.region or d.case_regions.get(e.case_id)
    return Plan(kind, e.case_id, e.case_id, unique(officer + specialist), d.region_or_everyone(region, e.agency_id),
                region=region, agency_id=e.agency_id,
                facts={"interview_id": e.interview_id, "proposed_at": text(e.proposed_at),
                       "location_type": e.location_type.value} | facts)


def interview_deferred(e: InterviewDeferred, d: Directory) -> Plan:
    ends = [r.ends_at for r in e.reasons if r.ends_at is not None]
    needs = sorted({n.value for r in e.reasons for n in r.urgent_needs})
    return interview(Kind.INTERVIEW_DEFERRED, e, d, {
        "reasons": [r.rule.value for r in e.reasons], "urgent_needs_open": needs,
        "stabilization_ends_at": text(max(ends)) if ends else None})


def interview_cleared(e: InterviewCleared, d: Directory) -> Plan:
    return interview(Kind.INTERVIEW_CLEARED, e, d, {"after_deferral": e.after_deferral})


def hhs(kind: Kind) -> Callable[[HhsNotificationDue | HhsNotificationOverdue, Directory], Plan]:
    """M1: the specialist and the region's supervisors, until HHS is notified."""
    def plan(e: HhsNotificationDue | HhsNotificationOverdue, d: Directory) -> Plan:
        specialist = [d.contact(e.specialist_id)] if e.specialist_id else d.case_specialist(e.case_id)
        return Plan(kind, e.case_id, e.case_id, unique(specialist + d.region_or_everyone(e.region, e.agency_id)),
                    d.everyone(e.agency_id), deadline=e.due_at, region=e.region, agency_id=e.agency_id)
    return plan


def certification(kind: Kind, e: CertificationExpiring | CertificationExpired | ContinuedPresenceRoutedToHsi,
                  d: Directory, recipients: list[Contact], facts: Facts, deadline: datetime | None) -> Plan:
    """Only the case's specialist and the agency's supervisors learn of it: never anyone else,
    not even as a fallback (P1)."""
    agency = d.of_agency(e.agency_id)
    return Plan(kind, e.case_id, e.case_id, unique(recipients + agency), agency, deadline=deadline,
                agency_id=e.agency_id,
                facts={"certification_id": e.certification_id, "certification": e.kind.value,
                       "status": e.status.value} | facts)


def certification_expiring(e: CertificationExpiring, d: Directory) -> Plan:
    return certification(Kind.CERTIFICATION_EXPIRING, e, d, d.case_specialist(e.case_id),
                         {"action": e.action.value, "deadline": text(e.deadline), "days_left": e.days_left},
                         e.lapses_at)


def certification_expired(e: CertificationExpired, d: Directory) -> Plan:
    return certification(Kind.CERTIFICATION_EXPIRED, e, d, d.case_specialist(e.case_id),
                         {"deadline": text(e.deadline), "expired_at": text(e.expired_at)}, None)


def routed_to_hsi(e: ContinuedPresenceRoutedToHsi, d: Directory) -> Plan:
    """C1: a state, local or tribal request goes through HSI; the agency's supervisors follow it."""
    return certification(Kind.CONTINUED_PRESENCE_ROUTED_TO_HSI, e, d, [],
                         {"agency_level": e.agency_level.value, "officer_id": e.officer_id,
                          "routed_at": text(e.routed_at)}, None)


def encounter_unprocessable(e: EncounterUnprocessable, d: Directory) -> Plan:
    """A person may be waiting: the region's supervisors, or every one when it is unreadable."""
    return Plan(Kind.ENCOUNTER_UNPROCESSABLE, e.encounter_id or e.alert_id, None,
                d.region_or_everyone(e.region, e.agency_id), d.everyone(e.agency_id), region=e.region,
                agency_id=e.agency_id,
                facts={"alert_id": e.alert_id, "encounter_id": e.encounter_id, "agency_id": e.agency_id,
                       "source": code(e.source), "error_type": code(e.error_type),
                       "received_at": text(e.received_at)})


def service_requested(e: ServiceRequestSent, d: Directory) -> Plan:
    """The provider, at once, to answer by ``respond_by``. What it learns: the case and request
    ids, the need and the person's languages (to plan), never who the person is. If it cannot be
    reached, the specialist who asked is alerted (and hears again when ``respond_by`` passes)."""
    return Plan(Kind.SERVICE_REQUESTED, e.case_id, e.case_id, [d.provider(e.provider_id)],
                [d.contact(e.specialist_id)], deadline=e.respond_by, region=e.region, agency_id=e.agency_id,
                facts={"service_request_id": e.service_request_id, "provider_id": e.provider_id,
                       "need": e.need.value, "languages": list(e.languages),
                       "asked_to_share": [s.value for s in e.share]})


def service_declined(e: ServiceDeclined, d: Directory) -> Plan:
    """The specialist who asked, with the provider's reason and the next matching provider."""
    return Plan(Kind.SERVICE_DECLINED, e.case_id, e.case_id, [d.contact(e.specialist_id)],
                d.region_or_everyone(e.region, e.agency_id), region=e.region, agency_id=e.agency_id,
                facts={"service_request_id": e.service_request_id, "provider_id": e.provider_id,
                       "need": e.need.value, "reason": e.reason.value if e.reason else None,
                       "declined_at": text(e.declined_at), "next_provider_id": e.next_provider_id})


def service_unanswered(e: ServiceUnanswered, d: Directory) -> Plan:
    """The specialist who asked: the provider let ``respond_by`` pass; the next matching provider."""
    return Plan(Kind.SERVICE_UNANSWERED, e.case_id, e.case_id, [d.contact(e.specialist_id)],
                d.region_or_everyone(e.region, e.agency_id), region=e.region, agency_id=e.agency_id,
                facts={"service_request_id": e.service_request_id, "provider_id": e.provider_id,
                       "need": e.need.value, "respond_by": text(e.respond_by),
                       "escalated_at": text(e.escalated_at), "next_provider_id": e.next_provider_id})


def consent(kind: Kind, e: ConsentExpiring | ConsentLapsed, d: Directory, facts: Facts,
            deadline: datetime | None) -> Plan:
    """The case's specialist, the case's region's supervisors alerted if it cannot be delivered;
    while nobody holds the case, those supervisors, every one on duty alerted. The facts name the
    consent, the kind of recipient and the scopes, never which recipient: a shelter's identity
    may put a person in danger (the case page shows it to the accepting specialist)."""
    region, agency = d.case_regions.get(e.case_id), d.case_agencies.get(e.case_id)
    specialist, supervisors = d.case_specialist(e.case_id), d.region_or_everyone(region, agency)
    return Plan(kind, e.case_id, e.case_id, specialist or supervisors,
                supervisors if specialist else d.everyone(agency), deadline=deadline, region=region, agency_id=agency,
                facts={"consent_id": e.consent_id, "recipient_kind": e.recipient_kind.value,
                       "scope": sorted(s.value for s in e.scope)} | facts)


def consent_expiring(e: ConsentExpiring, d: Directory) -> Plan:
    """A consent lapses at ``expires_at`` (the deadline): a new one may be recorded before."""
    return consent(Kind.CONSENT_EXPIRING, e, d, {"form": e.form.value, "expires_at": text(e.expires_at)},
                   e.expires_at)


def consent_lapsed(e: ConsentLapsed, d: Directory) -> Plan:
    return consent(Kind.CONSENT_LAPSED, e, d, {"expired_at": text(e.expired_at)}, None)


PLANS: dict[type[Any], Callable[[Any, Directory], Plan]] = {
    ReferralAssigned: referral_assigned,
    ReferralEscalated: referral_escalated,
    CaseUnassigned: case_unassigned,
    InterviewDeferred: interview_deferred,
    InterviewCleared: interview_cleared,
    HhsNotificationDue: hhs(Kind.HHS_NOTIFICATION_DUE),
    HhsNotificationOverdue: hhs(Kind.HHS_NOTIFICATION_OVERDUE),
    CertificationExpiring: certification_expiring,
    CertificationExpired: certification_expired,
    ContinuedPresenceRoutedToHsi: routed_to_hsi,
    EncounterUnprocessable: encounter_unprocessable,
    ReferralReleased: handed_over,
    HolderKept: handed_over,
    CaseClosureApplied: case_closed,
    CaseReopeningApplied: case_reopened,
    CaseNeedsHolder: case_needs_holder,
    ServiceRequestSent: service_requested,
    ServiceDeclined: service_declined,
    ServiceUnanswered: service_unanswered,
    ConsentExpiring: consent_expiring,
    ConsentLapsed: consent_lapsed,
}


def _closure_tells_someone(e: CaseClosureApplied) -> bool:
    """A withdrawal: whoever had the case; a supervisor's closure: the holder (who closes it knows)."""
    if e.released_specialist_id is None:
        return False
    if e.reason is ClosureReason.WITHDRAWN:
        return True
    return e.closed_by is not None and e.closed_by.role is ActorRole.SUPERVISOR \
        and e.closed_by.id != e.released_specialist_id


# Events of these types are notifications only when the predicate says so.
WANTED: dict[type[Any], Callable[[Any], bool]] = {
    # A departure is told by what follows (the next assignment, CaseNeedsHolder); a closure by its own kind.
    ReferralReleased: lambda e: e.reason in (ReleaseReason.HANDED_OVER, ReleaseReason.REASSIGNED),
    CaseClosureApplied: _closure_tells_someone,
    CaseReopeningApplied: lambda e: e.previous_specialist_id not in (None, e.reopened_by.id),
}


def notifiable(payload: Any) -> bool:
    kind = type(payload)
    return kind in PLANS and WANTED.get(kind, bool)(payload)


def plan(payload: Any, directory: Directory) -> Plan:
    return PLANS[type(payload)](payload, directory)
