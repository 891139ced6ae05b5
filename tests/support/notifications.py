"""Notify tests: the events that notify, a roster, and the service with its real receivers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from shared.cloudevents import encode, new_event
from shared.contracts.certifications import (
    CertificationExpired,
    CertificationExpiring,
    ContinuedPresenceRoutedToHsi,
)
from shared.contracts.common import Payload
from shared.contracts.consents import ConsentExpiring, ConsentLapsed
from shared.contracts.intake import EncounterUnprocessable
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    ReferralAssigned,
    ReferralEscalated,
    ReferralReleased,
)
from shared.contracts.stabilization import (
    DeferralReason,
    HhsNotificationDue,
    HhsNotificationOverdue,
    InterviewCleared,
    InterviewDeferred,
    InterviewSummary,
    PlanSummary,
)
from shared.contracts.support import (
    ServiceAccepted,
    ServiceDeclined,
    ServiceRequestSent,
    ServiceUnanswered,
)
from shared.settings import Settings
from tests.support import events
from tests.support.receivers import HttpReceiver, MailSink

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OFFICER_EMAIL = "reyes@dps.example.gov"


def cloud(payload: Payload, event_id: str | None = None) -> dict[str, Any]:
    """A CloudEvent as its producer would publish it."""
    event = new_event(payload, event_id=event_id or str(uuid.uuid4()), source="casework/test", time=T0)
    return json.loads(encode(event))


def member(specialist_id: str, *, role: str = "victim_specialist", regions: tuple[str, ...] = ("US-TX",),
           agency: str = "TX-DPS", webhook: str | None = None, on_duty: bool = True) -> dict[str, Any]:
    extra = {"webhook_url": webhook} if webhook else {}
    return events.specialist(specialist_id, role=role, regions=list(regions), agency_id=agency,
                             on_duty=on_duty, **extra)


def email_of(specialist_id: str) -> str:
    return f"{specialist_id}@victim-services.example.org"


_CASE = {"agency_id": "TX-DPS", "region": "US-TX", "priority": "urgent", "escalations": 0}


def assigned(case_id: str, specialist_id: str, **kw: Any) -> ReferralAssigned:
    return ReferralAssigned.model_validate(_CASE | {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "specialist_id": specialist_id,
        "assigned_at": T0, "ack_due_at": T0 + timedelta(minutes=5), "attempt": 1,
        "language_match": False} | kw, strict=False)


def escalated(case_id: str, scope: str = "region", **kw: Any) -> ReferralEscalated:
    return ReferralEscalated.model_validate(_CASE | {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "specialist_id": "spec-gone",
        "assigned_at": T0, "ack_due_at": T0 + timedelta(minutes=5), "escalations": 1,
        "escalated_at": T0 + timedelta(minutes=5), "scope": scope} | kw, strict=False)


def unassigned(case_id: str, **kw: Any) -> CaseUnassigned:
    return CaseUnassigned.model_validate(_CASE | {
        "case_id": case_id, "unassigned_at": T0, "reason": "no on-duty specialist covers the region"} | kw,
        strict=False)


def reassigned(case_id: str, specialist_id: str, *, by: str = "sup-tx", role: str = "supervisor",
               reason: str = "workload", handover_from: str | None = None, **kw: Any) -> ReferralAssigned:
    return assigned(case_id, specialist_id, referral_id=f"ref2-{case_id}", attempt=2,
                    reassigned_by={"id": by, "role": role}, reassignment_reason=reason,
                    handover_from=handover_from, **kw)


def handed_over(case_id: str, holder: str) -> ReferralReleased:
    """The new specialist accepted: the old holder's referral is released."""
    return ReferralReleased.model_validate(_CASE | {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "specialist_id": holder,
        "released_at": T0 + timedelta(minutes=9), "reason": "handed_over"}, strict=False)


def released(case_id: str, specialist_id: str, reason: str = "specialist_departed") -> ReferralReleased:
    return ReferralReleased.model_validate(_CASE | {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "specialist_id": specialist_id,
        "released_at": T0 + timedelta(minutes=9), "reason": reason}, strict=False)


def holder_kept(case_id: str, holder: str) -> HolderKept:
    return HolderKept.model_validate(_CASE | {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "specialist_id": holder, "assigned_at": T0,
        "accepted_at": T0 + timedelta(minutes=2), "ack_due_at": T0 + timedelta(minutes=5),
        "declined_referral_id": f"ref2-{case_id}", "kept_at": T0 + timedelta(minutes=9)}, strict=False)


def closed(case_id: str, released: str | None, *, by: str | None = "sup-tx", role: str = "supervisor",
           reason: str = "services_completed") -> CaseClosureApplied:
    return CaseClosureApplied.model_validate(_CASE | {
        "case_id": case_id, "closed_at": T0 + timedelta(days=3), "reason": reason,
        "closed_by": {"id": by, "role": role} if by else None, "referral_id": f"ref-{case_id}",
        "released_specialist_id": released, "request_event_id": f"req-{case_id}"}, strict=False)


def reopened(case_id: str, previous: str | None, *, by: str = "sup-tx",
             role: str = "supervisor") -> CaseReopeningApplied:
    return CaseReopeningApplied.model_validate(_CASE | {
        "case_id": case_id, "reopened_at": T0 + timedelta(days=4), "reopened_by": {"id": by, "role": role},
        "reason": "re_engaged", "reopen_count": 1, "previous_specialist_id": previous,
        "request_event_id": f"req-r-{case_id}"}, strict=False)


def needs_holder(case_id: str, departed: str, scope: str = "region", **kw: Any) -> CaseNeedsHolder:
    return CaseNeedsHolder.model_validate(_CASE | {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "specialist_id": departed,
        "flagged_at": T0 + timedelta(hours=1), "scope": scope} | kw, strict=False)


def _plan() -> PlanSummary:
    return PlanSummary.model_validate(dict(
        plan_version=3, case_opened=True, minor=True, engaged=False, needs_assessed=False, urgent_needs_open=[],
        interpreter="needed", rights_explained=False, hhs_notification="due", interview=InterviewSummary()),
        strict=False)


def _interview(case_id: str, specialist_id: str | None) -> dict[str, Any]:
    return {"case_id": case_id, "region": "US-TX", "agency_id": "TX-DPS", "specialist_id": specialist_id,
            "plan": _plan(), "interview_id": f"iv-{case_id}",
            "requested_by": {"officer_id": "officer-17", "agency_id": "TX-DPS", "email": OFFICER_EMAIL},
            "proposed_at": T0 + timedelta(days=2), "location_type": "police_station"}


def deferred(case_id: str, specialist_id: str | None = None) -> InterviewDeferred:
    reasons = [DeferralReason.model_validate(r, strict=False) for r in (
        {"rule": "location_not_neutral", "detail": "proposed at a police station", "location_type": "police_station"},
        {"rule": "urgent_needs_open", "detail": "shelter is still needed", "urgent_needs": ["shelter"]})]
    return InterviewDeferred.model_validate(_interview(case_id, specialist_id) | {"reasons": reasons},
                                            strict=False)


def cleared(case_id: str, specialist_id: str | None = None) -> InterviewCleared:
    return InterviewCleared.model_validate(_interview(case_id, specialist_id) | {"after_deferral": True},
                                           strict=False)


def hhs_due(case_id: str, specialist_id: str, overdue: bool = False) -> HhsNotificationDue:
    model = HhsNotificationOverdue if overdue else HhsNotificationDue
    return model.model_validate({"case_id": case_id, "region": "US-TX", "agency_id": "TX-DPS",
                                 "specialist_id": specialist_id, "plan": _plan(),
                                 "due_at": T0 + timedelta(hours=24)}, strict=False)


_CERT = {"agency_id": "TX-DPS", "kind": "u_visa_certification", "status": "signed",
         "expires_on": date(2026, 7, 4)}


def expiring(case_id: str) -> CertificationExpiring:
    return CertificationExpiring.model_validate(_CERT | {
        "case_id": case_id, "certification_id": f"cert-{case_id}", "action": "file",
        "deadline": date(2026, 7, 4), "lapses_at": datetime(2026, 7, 5, 5, tzinfo=UTC), "days_left": 30},
        strict=False)


def expired(case_id: str) -> CertificationExpired:
    return CertificationExpired.model_validate(_CERT | {
        "case_id": case_id, "certification_id": f"cert-{case_id}", "status": "expired",
        "deadline": date(2026, 7, 4), "lapses_at": datetime(2026, 7, 5, 5, tzinfo=UTC),
        "expired_at": datetime(2026, 7, 5, 5, tzinfo=UTC)}, strict=False)


def routed_to_hsi(case_id: str, agency: str = "TX-DPS") -> ContinuedPresenceRoutedToHsi:
    return ContinuedPresenceRoutedToHsi.model_validate({
        "case_id": case_id, "certification_id": f"cp-{case_id}", "kind": "continued_presence",
        "agency_id": agency, "status": "requested", "agency_level": "state", "officer_id": "officer-17",
        "routed_at": T0}, strict=False)


def unprocessable(alert: str, region: str | None = "US-TX") -> EncounterUnprocessable:
    return EncounterUnprocessable(alert_id=alert, agency_id="TX-DPS", region=region, encounter_id=f"ENC-{alert}",
                                  source="encounters.reported/0/7", error_type="ValidationError",
                                  error="1 validation error(s): person.languages: Field required",
                                  received_at=T0)


_SERVICE = {"agency_id": "TX-DPS", "region": "US-TX", "need": "shelter"}


def service_sent(case_id: str, provider_id: str, specialist_id: str = "spec-a", *,
                 request_id: str | None = None, **kw: Any) -> ServiceRequestSent:
    """The referral service sent a specialist's request on to a provider (``services.events``)."""
    return ServiceRequestSent.model_validate(_SERVICE | {
        "case_id": case_id, "service_request_id": request_id or f"sr-{case_id}", "provider_id": provider_id,
        "specialist_id": specialist_id, "requested_by": {"id": specialist_id, "role": "victim_specialist"},
        "requested_at": T0, "respond_by": T0 + timedelta(hours=4), "languages": ["es", "en"],
        "share": ["identity"]} | kw, strict=False)


def service_accepted(case_id: str, provider_id: str, specialist_id: str = "spec-a", *,
                     request_id: str | None = None, **kw: Any) -> ServiceAccepted:
    return ServiceAccepted.model_validate(_SERVICE | {
        "case_id": case_id, "service_request_id": request_id or f"sr-{case_id}", "provider_id": provider_id,
        "specialist_id": specialist_id, "accepted_at": T0 + timedelta(hours=1)} | kw, strict=False)


def service_declined(case_id: str, provider_id: str, specialist_id: str = "spec-a", *,
                     reason: str | None = "no_capacity", next_provider_id: str | None = None,
                     **kw: Any) -> ServiceDeclined:
    return ServiceDeclined.model_validate(_SERVICE | {
        "case_id": case_id, "service_request_id": f"sr-{case_id}", "provider_id": provider_id,
        "specialist_id": specialist_id, "declined_at": T0 + timedelta(hours=1), "reason": reason,
        "next_provider_id": next_provider_id} | kw, strict=False)


def service_unanswered(case_id: str, provider_id: str, specialist_id: str = "spec-a", *,
                       next_provider_id: str | None = None, **kw: Any) -> ServiceUnanswered:
    return ServiceUnanswered.model_validate(_SERVICE | {
        "case_id": case_id, "service_request_id": f"sr-{case_id}", "provider_id": provider_id,
        "specialist_id": specialist_id, "respond_by": T0 + timedelta(hours=4),
        "escalated_at": T0 + timedelta(hours=4, seconds=5), "next_provider_id": next_provider_id} | kw,
        strict=False)


_CONSENT = {"recipient_kind": "service_provider", "scope": ["identity", "contact"]}
CONSENT_EXPIRES = T0 + timedelta(days=7)


def consent_expiring(case_id: str, consent_id: str = "c-1", *, recipient_id: str = "pr-shelter",
                     **kw: Any) -> ConsentExpiring:
    """Intake's reminder, a week before a written consent lapses (``consents.events``)."""
    return ConsentExpiring.model_validate(_CONSENT | {
        "case_id": case_id, "consent_id": consent_id, "recipient_id": recipient_id, "form": "written",
        "expires_at": CONSENT_EXPIRES, "remind_at": T0} | kw, strict=False)


def consent_lapsed(case_id: str, consent_id: str = "c-1", *, recipient_id: str = "pr-shelter",
                   **kw: Any) -> ConsentLapsed:
    return ConsentLapsed.model_validate(_CONSENT | {
        "case_id": case_id, "consent_id": consent_id, "recipient_id": recipient_id,
        "expired_at": CONSENT_EXPIRES} | kw, strict=False)


def notify_settings(settings: Settings, sink: MailSink, *, delivery: dict[str, Any] | None = None,
                    smtp: dict[str, Any] | None = None, **changes: Any) -> Settings:
    """Settings for a notify under test: mail to ``sink``, quick retries; ``delivery`` and ``smtp``
    change those groups, ``changes`` others (as :meth:`Settings.amended`)."""
    return settings.amended(
        notify={"smtp": {"port": sink.port} | (smtp or {}),
                "delivery": {"retry_base_seconds": 1.0, "send_timeout_seconds": 3.0, "lease_seconds": 30.0}
                | (delivery or {})},
        status={"dashboard_url": "https://casework.example.org"}, **changes)


@asynccontextmanager
async def receivers(tmp_path: Path, statuses: list[int] | None = None) -> AsyncIterator[tuple[MailSink, HttpReceiver]]:
    sink, receiver = MailSink(tmp_path / "outbox"), HttpReceiver(list(statuses or []))
    await sink.start()
    await receiver.start()
    try:
        yield sink, receiver
    finally:
        await receiver.stop()
        await sink.stop()


async def delivery_log(mongo: AsyncMongoClient, settings: Settings) -> list[dict[str, Any]]:
    """Every delivery of every notification, with its notification's id, kind and case."""
    rows = []
    async for doc in mongo[settings.database("notify")]["notifications"].find():
        state = doc["state"]
        for index, d in enumerate(state["deliveries"]):
            rows.append(d | {"notification_id": state["id"], "index": index,
                             "notification_kind": state["kind"], "case_id": state["case_id"]})
    return rows
