"""What an accepted record does to a certification: its dates and its deadline (pure).

Instants are stored in UTC; the offset the agency wrote is kept to read deadlines as its
calendar dates (see :mod:`.deadlines`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.contracts.certifications import CertificationStatus
from shared.contracts.inbound import CertificationKind as K
from shared.contracts.inbound import CertificationRecorded, RecordedStatus

from . import deadlines
from .state import Certification, Policy


def apply(cert: Certification, rec: CertificationRecorded, now: datetime,
          policy: Policy) -> Certification:
    """The certification after an accepted record."""
    effects = _EFFECTS.get(rec.status, _nothing)(cert, rec, policy)
    status = CertificationStatus(rec.status.value)
    return cert.model_copy(update={"status": status, "updated_at": now, **effects})


def _signed(cert: Certification, rec: CertificationRecorded, _: Policy) -> dict[str, Any]:
    offset = deadlines.offset_minutes(rec.at)
    signed_on = deadlines.agency_date(rec.at, offset)
    effects = {"signed_at": _utc(rec.at), "signed_on": signed_on, "utc_offset_minutes": offset,
               "signatory_capacity": rec.signed_by.capacity if rec.signed_by else None}
    if cert.kind is K.U_VISA_CERTIFICATION:  # U3; T2: a T declaration has no validity window
        effects["expires_on"] = deadlines.u_visa_expires_on(signed_on)
    return effects


def _submitted(cert: Certification, rec: CertificationRecorded, _: Policy) -> dict[str, Any]:
    return {"submitted_at": _utc(rec.at)}


def _decided(cert: Certification, rec: CertificationRecorded, policy: Policy) -> dict[str, Any]:
    effects: dict[str, Any] = {"decided_at": _utc(rec.at)}
    if cert.kind is K.CONTINUED_PRESENCE and rec.status is RecordedStatus.GRANTED:
        # C3: valid for the configured duration from the grant, unless the record says.
        effects |= _valid_until(rec.valid_until or rec.at + policy.cp_duration)
    return effects


def _renewed(cert: Certification, rec: CertificationRecorded, policy: Policy) -> dict[str, Any]:
    # An extension continues the current period, unless the record gives the new end.
    assert cert.valid_until is not None, "only a granted CP is renewed"
    until = rec.valid_until or cert.valid_until.astimezone(rec.at.tzinfo) + policy.cp_duration
    return _valid_until(until) | {"renewals": cert.renewals + 1}


def _valid_until(until: datetime) -> dict[str, Any]:
    return {"valid_until": _utc(until), "utc_offset_minutes": deadlines.offset_minutes(until)}


def _nothing(cert: Certification, rec: CertificationRecorded, policy: Policy) -> dict[str, Any]:
    return {}


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


Effects = Callable[[Certification, CertificationRecorded, Policy], dict[str, Any]]
_EFFECTS: dict[RecordedStatus, Effects] = {
    RecordedStatus.SIGNED: _signed, RecordedStatus.SUBMITTED: _submitted,
    RecordedStatus.GRANTED: _decided, RecordedStatus.DENIED: _decided,
    RecordedStatus.RENEWED: _renewed,
}
