"""The case page's timeline: one line per event, from ids, codes and times only.

Free-text fields (a decline's reason, a delivery error, a deferral's sentence) are never
copied: a specialist may have typed something about the person into them (P2, P3).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.contracts.certifications import (
    CertificationExpired,
    CertificationExpiring,
    CertificationStatusChanged,
    CertificationUpdateRejected,
    ContinuedPresenceRoutedToHsi,
)
from shared.contracts.consents import ConsentExpiring, ConsentLapsed
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.contracts.referrals import (
    CaseActionRejected,
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
    ReferralReleased,
    ReferralResponseRejected,
)
from shared.contracts.stabilization import (
    HhsNotificationDue,
    HhsNotificationOverdue,
    InterpreterRejected,
    InterviewCleared,
    InterviewDeferred,
    StabilizationProgressed,
)
from shared.contracts.support import (
    ServiceAccepted,
    ServiceCompleted,
    ServiceDeclined,
    ServiceRequestRefused,
    ServiceRequestSent,
    ServiceResponseRefused,
    ServiceUnanswered,
)
from shared.kit import Inbound

from .state import TIMELINE_LIMIT, Moment


def _need(need: Any) -> str:
    """A service's need in words; the provider is never named on the timeline (a shelter's
    identity may put a person in danger; the case page shows it to the accepting specialist)."""
    return str(need).replace("_", " ")


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _opened(e: CaseOpened) -> str:
    minor = ", minor (HHS notice within 24 h, M1)" if e.minor else ""
    return f"Case opened for agency {e.agency_id} in {e.region}, priority {e.priority}{minor}"


def _assigned(e: ReferralAssigned) -> str:
    text = (f"Referral {e.referral_id} assigned to specialist {e.specialist_id} (attempt {e.attempt}); "
            f"acknowledgement due {_hm(e.ack_due_at)}" + ("" if e.language_match else "; no language match, "
                                                          "interpreter needed"))
    if e.reassigned_by is not None:
        text += f"; reassigned by {e.reassigned_by.role} {e.reassigned_by.id} ({e.reassignment_reason or 'other'})"
    if e.handover_from is not None:
        text += f"; specialist {e.handover_from} stays responsible until it is accepted"
    return text


def _closed(e: CaseClosureApplied) -> str:
    by = f"by {e.closed_by.role} {e.closed_by.id}" if e.closed_by else "after the agency withdrew the encounter"
    freed = f"; specialist {e.released_specialist_id} released" if e.released_specialist_id else ""
    return f"Case closed {by} ({e.reason}){freed}"


def _corrected(e: CaseCorrected) -> str:
    minor = ", a minor is revealed (HHS notice due 24 h from the encounter, M1)" if e.minor_revealed else ""
    return f"Encounter corrected (revision {e.revision}): priority {e.priority}{', minor' if e.minor else ''}{minor}"


def _unassigned(e: CaseUnassigned) -> str:
    if e.alert > 1:
        return f"Case still unassigned: supervisors alerted again (alert {e.alert}, {e.scope})"
    return f"No specialist available: case unassigned, supervisors alerted ({e.scope})"


PROVIDER = "service_provider"


def _who(e: NotificationSent | NotificationFailed, nobody: str) -> str:
    """Who a notice went to; a provider is never named (a shelter's identity may put a person
    in danger: the accepting specialist sees it on the case page)."""
    if e.recipient_role == PROVIDER:
        return "the provider"
    if e.recipient_id:
        return f"{e.recipient_role or 'recipient'} {e.recipient_id}"
    return e.recipient_role or nobody


def _reached(e: NotificationSent) -> str:
    return f"Notification {e.kind} sent to {_who(e, 'recipient')} by {e.channel or 'no channel'}"


def _not_reached(e: NotificationFailed) -> str:
    who = _who(e, "nobody") if e.recipient_role and (e.recipient_id or e.recipient_role == PROVIDER) else "nobody"
    return f"Notification {e.kind} to {who} failed after {e.attempts} attempt(s): supervisors alerted"


_WORDING: dict[type, Callable[[Any], str]] = {
    CaseOpened: _opened,
    CaseCorrected: _corrected,
    CaseWithdrawn: lambda e: f"The agency withdrew encounter {e.encounter_id} ({e.reason}): the case closes",
    ReferralAssigned: _assigned,
    CaseClosureApplied: _closed,
    CaseReopeningApplied: lambda e: (f"Case reopened by {e.reopened_by.role} {e.reopened_by.id} ({e.reason}), "
                                     f"reopening {e.reopen_count}"),
    ReferralReleased: lambda e: f"Referral {e.referral_id} of specialist {e.specialist_id} released ({e.reason})",
    HolderKept: lambda e: (f"Handover not taken up (referral {e.declined_referral_id}): specialist "
                           f"{e.specialist_id} keeps the case"),
    CaseNeedsHolder: lambda e: (f"Specialist {e.specialist_id}, who accepted the case, left the roster: "
                                f"supervisors must choose a new holder ({e.scope})"),
    CaseActionRejected: lambda e: (f"A {e.action} request by {e.actor.role} {e.actor.id} was not applied: "
                                   f"{e.rejection}"),
    ReferralAccepted: lambda e: f"Referral {e.referral_id} accepted by specialist {e.specialist_id}",
    ReferralDeclined: lambda e: f"Referral {e.referral_id} declined by specialist {e.specialist_id}",
    ReferralEscalated: lambda e: (f"Referral {e.referral_id} not accepted by {_hm(e.ack_due_at)}: "
                                  f"escalated to supervisors ({e.scope}), escalation {e.escalations}"),
    CaseUnassigned: _unassigned,
    ReferralResponseRejected: lambda e: (f"A response to referral {e.referral_id} was not applied: "
                                         f"{e.rejection}"),
    StabilizationProgressed: lambda e: f"Stabilization: {str(e.change).replace('_', ' ')}",
    InterviewDeferred: lambda e: (f"Interview {e.interview_id} deferred: "
                                  + ", ".join(str(r.rule) for r in e.reasons)),
    InterviewCleared: lambda e: (f"Interview {e.interview_id} cleared"
                                 + (" once its last gate passed" if e.after_deferral else "")),
    InterpreterRejected: lambda e: ("Interpreter arrangement rejected (I3): "
                                    + ", ".join(str(r) for r in e.reasons)),
    HhsNotificationDue: lambda e: f"HHS must be notified by {_hm(e.due_at)} (M1)",
    HhsNotificationOverdue: lambda e: f"HHS notice overdue since {_hm(e.due_at)} (M1): escalated",
    CertificationStatusChanged: lambda e: f"Continued Presence {e.certification_id}: {e.status}"
                                          + (" (through HSI, C1)" if e.routed_through_hsi else ""),
    ContinuedPresenceRoutedToHsi: lambda e: (f"Continued Presence {e.certification_id} routed through "
                                             f"the local HSI office (C1)"),
    CertificationExpiring: lambda e: (f"Continued Presence {e.certification_id} lapses in "
                                      f"{e.days_left} day(s): renew (C3)"),
    CertificationExpired: lambda e: f"Continued Presence {e.certification_id} expired",
    CertificationUpdateRejected: lambda e: (f"Continued Presence {e.certification_id}: update to "
                                            f"{e.attempted} not applied ({e.reason})"),
    ServiceRequestSent: lambda e: (f"Service request {e.service_request_id} ({_need(e.need)}) sent to the provider; "
                                   f"answer due {_hm(e.respond_by)}"),
    ServiceRequestRefused: lambda e: (f"Service request {e.service_request_id} ({_need(e.need)}) not sent: "
                                      f"{str(e.refusal).replace('_', ' ')}"),
    ServiceAccepted: lambda e: f"Service request {e.service_request_id} ({_need(e.need)}) accepted by the provider",
    ServiceDeclined: lambda e: (f"Service request {e.service_request_id} ({_need(e.need)}) declined by the provider"
                                + (f" ({str(e.reason).replace('_', ' ')})" if e.reason else "")),
    ServiceCompleted: lambda e: f"Service request {e.service_request_id} ({_need(e.need)}) completed",
    ServiceUnanswered: lambda e: (f"Service request {e.service_request_id} ({_need(e.need)}) not answered by "
                                  f"{_hm(e.respond_by)}: the specialist is told"),
    ServiceResponseRefused: lambda e: (f"A provider's answer to service request {e.service_request_id} was not "
                                       f"applied: {str(e.refusal).replace('_', ' ')}"),
    ConsentRecorded: lambda e: (f"Consent {e.consent_id} recorded ({e.form}): "
                                + ", ".join(sorted(str(x).replace("_", " ") for x in set(e.scope)))
                                + f" for a {str(e.recipient.kind).replace('_', ' ')}, until {_hm(e.expires_at)}"),
    ConsentRevoked: lambda e: f"Consent {e.consent_id} revoked by {e.revoked_by.role} {e.revoked_by.id}",
    ConsentExpiring: lambda e: f"Consent {e.consent_id} expires on {_hm(e.expires_at)}: the specialist is told",
    ConsentLapsed: lambda e: f"Consent {e.consent_id} lapsed: nothing more is shared under it",
    NotificationSent: _reached,
    NotificationFailed: _not_reached,
}

# The payload's own time of what happened; CloudEvent ``time`` when it has none.
_WHEN = ("opened_at", "accepted_at", "declined_at", "escalated_at", "unassigned_at", "assigned_at",
         "rejected_at", "routed_at", "expired_at", "sent_at", "failed_at", "closed_at", "reopened_at",
         "released_at", "kept_at", "flagged_at", "corrected_at", "withdrawn_at", "at")


def occurred(event: Inbound, now: datetime) -> datetime:
    """When the event happened: the producer's time, so a rebuild gets the same answer."""
    if event.time is not None:
        return event.time
    for name in _WHEN:
        value = getattr(event.data, name, None)
        if isinstance(value, datetime):
            return value
    return now


def moment(event: Inbound, now: datetime) -> Moment | None:
    wording = _WORDING.get(type(event.data))
    if wording is None:
        return None
    kind = "_".join(event.type.split(".")[1:-1]) or event.type  # casework.referral.assigned.v1
    return Moment(at=occurred(event, now), source=event.topic, kind=kind, text=wording(event.data))


def add(timeline: list[Moment], entry: Moment | None) -> list[Moment]:
    """Kept in time order, the newest ``TIMELINE_LIMIT`` lines: the same set in any arrival order."""
    if entry is None:
        return timeline
    ordered = sorted([*timeline, entry], key=lambda m: (m.at, m.source, m.kind, m.text))
    return ordered[-TIMELINE_LIMIT:]
