"""One valid event of every type on the internal topics (``tests.support.hostile.INTERNAL_TYPES``),
built from the real contracts, as its producer would publish it.

``Fuzz.template`` gives a valid event for every inbound topic; for an internal topic only a
valid-looking one (a case opening under any type). Tests that need a valid event to start
from — to change one position of it — take it from here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shared.contracts.audit import AuditRecorded
from shared.contracts.certifications import CertificationStatus, CertificationUpdateRejected
from shared.contracts.common import Payload
from shared.contracts.inbound import CertificationKind
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.contracts.referrals import ReferralResponseRejected
from shared.contracts.stabilization import InterpreterRejected
from shared.contracts.support import ServiceAccepted, ServiceCompleted, ServiceRequestRefused, ServiceResponseRefused
from tests.support import notifications as n
from tests.support import status as s

CASE = "CASE-int-1"
T0 = s.T0

_SERVICE = {"case_id": CASE, "agency_id": "TX-DPS", "region": "US-TX", "service_request_id": "sr-1",
            "provider_id": "pr-1", "need": "shelter", "specialist_id": "vs-1"}
_NOTIFICATION = {"notification_id": "nt-1", "kind": "referral_assigned", "case_id": CASE, "reference": CASE,
                 "recipient_id": "vs-1", "recipient_role": "victim_specialist", "channel": "email", "attempts": 1}


def _v(model: type[Payload], data: dict[str, Any]) -> Payload:
    return model.model_validate(data, strict=False)


PAYLOADS: dict[str, Callable[[], Payload]] = {p().TYPE: p for p in (
    lambda: s.case_opened(CASE),
    lambda: s.corrected(CASE, 1, at=T0),
    lambda: s.withdrawn(CASE, at=T0),
    lambda: n.unprocessable("unprocessable-encounters_reported-0-7"),
    lambda: s.assigned(CASE, "ref-1", "vs-1", at=T0),
    lambda: s.accepted(CASE, "ref-1", "vs-1", assigned_at=T0, at=T0 + timedelta(minutes=2)),
    lambda: s.declined(CASE, "ref-1", "vs-1", at=T0 + timedelta(minutes=2), reason="on leave"),
    lambda: s.escalated(CASE, "ref-1", "vs-1", assigned_at=T0),
    lambda: s.unassigned(CASE, at=T0),
    lambda: _v(ReferralResponseRejected, {
        "case_id": CASE, "referral_id": "ref-1", "specialist_id": "vs-1", "response": "accepted",
        "rejection": "superseded", "detail": "the referral was superseded", "response_event_id": "ev-1",
        "rejected_at": T0, "agency_id": "TX-DPS", "region": "US-TX", "current_referral_id": "ref-2"}),
    lambda: s.closed(CASE, at=T0, by=s.supervisor(), released="vs-1", referral_id="ref-1"),
    lambda: s.reopened(CASE, at=T0, by=s.supervisor(), previous="vs-1"),
    lambda: s.released(CASE, "ref-1", "vs-1", at=T0),
    lambda: s.holder_kept(CASE, "ref-1", "vs-1", assigned_at=T0, accepted_at=T0, declined_referral_id="ref-2",
                          at=T0),
    lambda: s.needs_holder(CASE, "ref-1", "vs-1", at=T0),
    lambda: s.action_rejected(CASE, at=T0, actor=s.specialist("vs-2")),
    lambda: s.progressed(CASE, s.plan(2)),
    lambda: n.deferred(CASE, "vs-1"),
    lambda: s.interview_cleared(CASE, s.plan(3)),
    lambda: _v(InterpreterRejected, {
        "case_id": CASE, "region": "US-TX", "agency_id": "TX-DPS", "specialist_id": "vs-1", "plan": s.plan(2),
        "language": "es", "dialect": "Honduran Spanish", "mode": "in_person", "reasons": ["ties_to_trafficker"],
        "recorded_by": {"id": "vs-1", "role": "victim_specialist"}}),
    lambda: n.hhs_due(CASE, "vs-1"),
    lambda: n.hhs_due(CASE, "vs-1", overdue=True),
    lambda: n.service_sent(CASE, "pr-1"),
    lambda: _v(ServiceRequestRefused, {
        "case_id": CASE, "service_request_id": "sr-1", "provider_id": "pr-1", "need": "shelter",
        "requested_by": {"id": "vs-1", "role": "victim_specialist"}, "refusal": "not_holder",
        "request_event_id": "ev-1", "refused_at": T0}),
    lambda: _v(ServiceAccepted, _SERVICE | {"accepted_at": T0}),
    lambda: n.service_declined(CASE, "pr-1"),
    lambda: _v(ServiceCompleted, _SERVICE | {"completed_at": T0}),
    lambda: n.service_unanswered(CASE, "pr-1", next_provider_id="pr-2"),
    lambda: _v(ServiceResponseRefused, {
        "case_id": CASE, "service_request_id": "sr-1", "provider_id": "pr-1", "refusal": "wrong_provider",
        "request_event_id": "ev-1", "refused_at": T0}),
    lambda: n.consent_expiring(CASE),
    lambda: n.consent_lapsed(CASE),
    lambda: s.certification(CASE, "cert-1", CertificationKind.U_VISA_CERTIFICATION, CertificationStatus.SIGNED,
                            at=T0),
    lambda: n.routed_to_hsi(CASE),
    lambda: n.expiring(CASE),
    lambda: n.expired(CASE),
    lambda: _v(CertificationUpdateRejected, {
        "case_id": CASE, "certification_id": "cert-1", "kind": "u_visa_certification", "agency_id": "TX-DPS",
        "status": "requested", "attempted": "submitted", "reason": "invalid_transition", "missing": ["signed_by"],
        "rejected_event_id": "ev-1", "at": T0}),
    lambda: _v(NotificationSent, _NOTIFICATION | {"sent_at": T0}),
    lambda: _v(NotificationFailed, _NOTIFICATION | {"error": "SMTPRecipientsRefused", "failed_at": T0}),
    lambda: _v(AuditRecorded, {
        "audit_id": "au-1", "actor": {"id": "vs-1", "role": "specialist"}, "action": "case.viewed",
        "outcome": "granted", "at": T0, "case_id": CASE, "via": "dashboard_api"}),
)}


def valid_event(type_: str) -> dict[str, Any]:
    """A CloudEvent of ``type_`` (an internal type) as its producer would publish it."""
    return s.cloudevent(PAYLOADS[type_](), event_id=f"ev-{type_.split('.')[-2]}")
