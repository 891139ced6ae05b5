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
from shared.contracts.intake import CaseOpened
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.contracts.referrals import (
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
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
from shared.kit import Inbound

from .state import TIMELINE_LIMIT, Moment


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _opened(e: CaseOpened) -> str:
    minor = ", minor (HHS notice within 24 h, M1)" if e.minor else ""
    return f"Case opened for agency {e.agency_id} in {e.region}, priority {e.priority}{minor}"


_WORDING: dict[type, Callable[[Any], str]] = {
    CaseOpened: _opened,
    ReferralAssigned: lambda e: (f"Referral {e.referral_id} assigned to specialist {e.specialist_id} "
                                 f"(attempt {e.attempt}); acknowledgement due {_hm(e.ack_due_at)}"
                                 + ("" if e.language_match else "; no language match, interpreter needed")),
    ReferralAccepted: lambda e: f"Referral {e.referral_id} accepted by specialist {e.specialist_id}",
    ReferralDeclined: lambda e: f"Referral {e.referral_id} declined by specialist {e.specialist_id}",
    ReferralEscalated: lambda e: (f"Referral {e.referral_id} not accepted by {_hm(e.ack_due_at)}: "
                                  f"escalated to supervisors ({e.scope}), escalation {e.escalations}"),
    CaseUnassigned: lambda e: f"No specialist available: case unassigned, supervisors alerted ({e.scope})",
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
    NotificationSent: lambda e: (f"Notification {e.kind} sent to {e.recipient_role or 'recipient'} "
                                 f"by {e.channel or 'no channel'}"),
    NotificationFailed: lambda e: (f"Notification {e.kind} to {e.recipient_role or 'nobody'} failed "
                                   f"after {e.attempts} attempt(s): supervisors alerted"),
}

# The payload's own time of what happened; CloudEvent ``time`` when it has none.
_WHEN = ("opened_at", "accepted_at", "declined_at", "escalated_at", "unassigned_at", "assigned_at",
         "rejected_at", "routed_at", "expired_at", "sent_at", "failed_at", "at")


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
