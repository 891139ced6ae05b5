"""The events a decision publishes, built from the aggregate (pure).

Everything goes to the restricted ``certifications.events`` and ``certifications.status``
(P1): a T or U visa record never reaches a general topic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts.certifications import (
    CaseCertifications,
    CertificationExpired,
    CertificationExpiring,
    CertificationRecord,
    CertificationStatus,
    CertificationStatusChanged,
    CertificationUpdateRejected,
    ContinuedPresenceRoutedToHsi,
    ReminderAction,
)
from shared.contracts.inbound import CertificationKind, SignatoryCapacity

from . import deadlines
from .rules import Rejection
from .state import CaseCertificationFile, Certification

SNAPSHOT_ONLY = frozenset({"utc_offset_minutes"})


def facts(case_id: str, cert: Certification) -> dict[str, Any]:
    """What every certification event carries, ``kind`` first among them (readers filter on it)."""
    return {"case_id": case_id, "certification_id": cert.certification_id, "kind": cert.kind,
            "agency_id": cert.agency_id, "status": cert.status, "valid_until": cert.valid_until,
            "expires_on": cert.expires_on}


def status_changed(case_id: str, cert: Certification, previous: CertificationStatus | None,
                   at: datetime,
                   capacity: SignatoryCapacity | None = None) -> CertificationStatusChanged:
    return CertificationStatusChanged(**facts(case_id, cert), previous_status=previous, at=at,
                                      signatory_capacity=capacity,
                                      routed_through_hsi=cert.routed_through_hsi)


def routed_to_hsi(case_id: str, cert: Certification, now: datetime) -> ContinuedPresenceRoutedToHsi:
    return ContinuedPresenceRoutedToHsi(**facts(case_id, cert), agency_level=cert.agency_level,
                                        officer_id=cert.officer_id, routed_at=now)


def expiring(case_id: str, cert: Certification, now: datetime) -> CertificationExpiring:
    deadline, lapse = cert.deadline(), cert.lapses_at()
    assert deadline is not None and lapse is not None, "only a running certification has reminders"
    renew = cert.kind is CertificationKind.CONTINUED_PRESENCE
    return CertificationExpiring(
        **facts(case_id, cert), action=ReminderAction.RENEW if renew else ReminderAction.FILE,
        deadline=deadline, lapses_at=lapse,
        days_left=deadlines.days_left(deadline, now, cert.utc_offset_minutes))


def expired(case_id: str, cert: Certification, now: datetime) -> CertificationExpired:
    deadline, lapse = cert.deadline(), cert.lapses_at()
    assert deadline is not None and lapse is not None, "only a running certification expires"
    return CertificationExpired(**facts(case_id, cert), deadline=deadline, lapses_at=lapse,
                                expired_at=now)


def rejected(case_id: str, certification_id: str, cert: Certification | None,
             attempted: CertificationStatus, rejection: Rejection, event_id: str,
             at: datetime) -> CertificationUpdateRejected:
    return CertificationUpdateRejected(
        case_id=case_id, certification_id=certification_id, kind=cert.kind if cert else None,
        agency_id=cert.agency_id if cert else None, status=cert.status if cert else None,
        attempted=attempted, reason=rejection.reason, missing=rejection.missing,
        rejected_event_id=event_id, at=at)


def snapshot(file: CaseCertificationFile, now: datetime) -> CaseCertifications:
    records = [CertificationRecord(**c.model_dump(exclude=set(SNAPSHOT_ONLY)))
               for c in file.certifications]
    return CaseCertifications(case_id=file.case_id, version=file.version, updated_at=now,
                              certifications=records)
