"""What the certification service publishes: ``certifications.events`` and ``.status``.

Both topics are restricted (8 U.S.C. 1367, rule P1): that a T or U visa case exists is itself
protected, so only the certification, notify and status services read them. Every event
names the certification's ``kind``, so a reader keeps Continued Presence and drops T and U
on arrival (the status service: only ``continued_presence{status,valid_until}`` reaches
``cases.status``).

Deadlines (rules C3, U3): instants are UTC; a deadline is a calendar date, read in the UTC
offset the agency wrote in the record's ``at`` (its own date). ``lapses_at`` is the instant
that date ends in that offset.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from shared.contracts.common import AgencyLevel, Contract, Identifier, Payload, Timestamp
from shared.contracts.inbound import CertificationKind, SignatoryCapacity


class CertificationStatus(StrEnum):
    REQUESTED = "requested"
    SIGNED = "signed"
    SUBMITTED = "submitted"
    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    RENEWED = "renewed"
    EXPIRED = "expired"


class RejectionReason(StrEnum):
    UNKNOWN_CERTIFICATION = "unknown_certification"  # recorded before (or without) its request
    ALREADY_REQUESTED = "already_requested"  # a second request under the same certification id
    INVALID_TRANSITION = "invalid_transition"  # e.g. signed after withdrawn, renewed on a U visa
    INVALID_SIGNATORY = "invalid_signatory"  # U1: not agency head, designated supervisor, judge
    INCOMPLETE = "incomplete"  # U4: required fields missing before signature (see ``missing``)
    PAST_DEADLINE = "past_deadline"  # U3/C3: filed or renewed after the certification lapsed


class ReminderAction(StrEnum):
    RENEW = "renew"  # Continued Presence: request the extension
    FILE = "file"  # U visa: file the I-918 with this Supplement B before it lapses


class CertificationFacts(Payload):
    """Fields every certification event carries (not published on its own)."""

    TOPIC = "certifications.events"

    case_id: Identifier
    certification_id: Identifier
    kind: CertificationKind
    agency_id: Identifier  # the requesting agency: notify resolves its supervisors
    status: CertificationStatus  # the certification's status after this event
    valid_until: Timestamp | None = None  # Continued Presence only
    expires_on: date | None = None  # U visa only: last day the signature can be filed


class CertificationStatusChanged(CertificationFacts):
    """A certification was requested or its status changed (a request, a record, an expiry)."""

    TYPE = "casework.certification.status_changed.v1"

    previous_status: CertificationStatus | None = None  # None for the request itself
    at: Timestamp  # when it happened (the record's ``at``; the request's arrival)
    signatory_capacity: SignatoryCapacity | None = None
    routed_through_hsi: bool = False


class ContinuedPresenceRoutedToHsi(CertificationFacts):
    """C1: a state, local or tribal request goes through the local HSI office; notify tells the
    agency's supervisors."""

    TYPE = "casework.certification.routed_to_hsi.v1"

    agency_level: AgencyLevel
    officer_id: Identifier
    routed_at: Timestamp


class CertificationExpiring(CertificationFacts):
    """A reminder before a deadline: CP renewal lead time (C3), U visa 30 and 7 days (U3)."""

    TYPE = "casework.certification.expiring.v1"

    action: ReminderAction
    deadline: date  # the last calendar day it is valid, in the agency's offset
    lapses_at: Timestamp  # the instant after which it is expired
    days_left: int = Field(ge=0)


class CertificationExpired(CertificationFacts):
    """The deadline passed: CP not renewed, U visa Supplement B not filed in time."""

    TYPE = "casework.certification.expired.v1"

    deadline: date
    lapses_at: Timestamp
    expired_at: Timestamp


class CertificationUpdateRejected(Payload):
    """An update that was not applied, and why: never silently dropped."""

    TYPE = "casework.certification.update_rejected.v1"
    TOPIC = "certifications.events"

    case_id: Identifier
    certification_id: Identifier
    kind: CertificationKind | None = None  # None when the certification is unknown
    agency_id: Identifier | None = None
    status: CertificationStatus | None = None  # the unchanged current status, if known
    attempted: CertificationStatus  # what the rejected event asked for
    reason: RejectionReason
    missing: list[str] = Field(default_factory=list)  # INCOMPLETE: the fields to answer
    rejected_event_id: str
    at: Timestamp  # the rejected record's ``at``, or the request's arrival


class CertificationRecord(Contract):
    """One certification of a case, as it stands."""

    certification_id: Identifier
    kind: CertificationKind
    status: CertificationStatus
    agency_id: Identifier
    agency_level: AgencyLevel
    officer_id: Identifier
    routed_through_hsi: bool = False
    requested_at: Timestamp
    updated_at: Timestamp
    signed_at: Timestamp | None = None
    signed_on: date | None = None  # the signature's calendar date (agency's offset)
    signatory_capacity: SignatoryCapacity | None = None
    submitted_at: Timestamp | None = None
    decided_at: Timestamp | None = None  # granted or denied
    valid_until: Timestamp | None = None  # Continued Presence
    expires_on: date | None = None  # U visa
    renewals: int = Field(default=0, ge=0)
    reminders_sent: list[str] = Field(default_factory=list)  # e.g. "remind30@2027-02-27"


class CaseCertifications(Payload):
    """``certifications.status`` (compacted, restricted, key case_id): a case's T, U and CP
    records, the whole snapshot on every change."""

    TYPE = "casework.certification.case_status.v1"
    TOPIC = "certifications.status"

    case_id: Identifier
    version: int = Field(ge=1)  # increases by one per change
    updated_at: Timestamp
    certifications: list[CertificationRecord]


CERTIFICATION_EVENTS: tuple[type[Payload], ...] = (
    CertificationStatusChanged,
    ContinuedPresenceRoutedToHsi,
    CertificationExpiring,
    CertificationExpired,
    CertificationUpdateRejected,
)
