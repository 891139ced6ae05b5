"""Which record a certification accepts, as named rules whose names are the rejection reasons.

A record passes, in order: the transition table of its kind, then (U visa signature) the
completeness of the Supplement B (U4) and the signatory's capacity (U1), then the deadline
(U3, C3). The first failing rule rejects it; nothing is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.contracts.certifications import CertificationStatus as S
from shared.contracts.certifications import RejectionReason
from shared.contracts.inbound import CertificationKind as K
from shared.contracts.inbound import CertificationRecorded, SignatoryCapacity

from . import deadlines
from .state import Certification

# From each status, the records a certification accepts. Statuses absent are terminal.
TRANSITIONS: dict[K, dict[S, frozenset[S]]] = {
    # C1-C3: no signature; HSI may be sent the request (submitted), decides, and a grant is renewed.
    # An expired CP accepts a renewal only if it happened before the lapse (recorded late).
    K.CONTINUED_PRESENCE: {
        S.REQUESTED: frozenset({S.SUBMITTED, S.GRANTED, S.DENIED, S.WITHDRAWN}),
        S.SUBMITTED: frozenset({S.GRANTED, S.DENIED, S.WITHDRAWN}),
        S.GRANTED: frozenset({S.RENEWED, S.WITHDRAWN}),
        S.RENEWED: frozenset({S.RENEWED, S.WITHDRAWN}),
        S.EXPIRED: frozenset({S.RENEWED}),
    },
    # T1-T2: optional, no validity window; USCIS's decision may be recorded after filing.
    K.T_VISA_DECLARATION: {
        S.REQUESTED: frozenset({S.SIGNED, S.DENIED, S.WITHDRAWN}),
        S.SIGNED: frozenset({S.SUBMITTED, S.WITHDRAWN}),
        S.SUBMITTED: frozenset({S.GRANTED, S.DENIED, S.WITHDRAWN}),
    },
    # U1-U4: a lapsed or soon-lapsing Supplement B may be signed again (a new six months);
    # an expired one accepts a filing only if it was filed in time (recorded late).
    K.U_VISA_CERTIFICATION: {
        S.REQUESTED: frozenset({S.SIGNED, S.DENIED, S.WITHDRAWN}),
        S.SIGNED: frozenset({S.SIGNED, S.SUBMITTED, S.WITHDRAWN}),
        S.SUBMITTED: frozenset({S.GRANTED, S.DENIED, S.WITHDRAWN}),
        S.EXPIRED: frozenset({S.SIGNED, S.SUBMITTED}),
    },
}

# U1 (8 CFR 214.14(a)): who may sign a U visa certification.
U_VISA_SIGNATORIES = frozenset({
    SignatoryCapacity.AGENCY_HEAD, SignatoryCapacity.DESIGNATED_SUPERVISOR, SignatoryCapacity.JUDGE,
})


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    missing: list[str] = field(default_factory=list)


def transition_allowed(kind: K, current: S, wanted: S) -> bool:
    return wanted in TRANSITIONS[kind].get(current, frozenset())


def supplement_b_missing(record: CertificationRecorded) -> list[str]:
    """U4, over what the contract carries: who signs, their name and title, each answered.

    The requesting agency and officer (from the request) and the signature date are
    required by the contract itself: an event without them is dead-lettered before this.
    A blank answer counts as missing; "none", "N/A" and "unknown" are answers.
    """
    signatory = record.signed_by
    if signatory is None:
        return ["signed_by"]
    answers = {"signed_by.name": signatory.name, "signed_by.title": signatory.title}
    return [name for name, value in answers.items() if not value.strip()]


def past_deadline(cert: Certification, record: CertificationRecorded) -> bool:
    """A filing (U3) or a renewal (C3) dated after the certification lapsed.

    Judged by the record's own date, not by when it arrives: a filing made in time but
    recorded after the expiry timer fired is accepted.
    """
    wanted = S(record.status.value)
    if cert.kind is K.U_VISA_CERTIFICATION and wanted is S.SUBMITTED and cert.expires_on:
        filed_on = deadlines.agency_date(record.at, deadlines.offset_minutes(record.at))
        return filed_on > cert.expires_on
    if cert.kind is K.CONTINUED_PRESENCE and wanted is S.RENEWED and cert.valid_until:
        return record.at >= cert.valid_until
    return False


def check(cert: Certification, record: CertificationRecorded) -> Rejection | None:
    """The first rule ``record`` breaks for ``cert``, or None when it may be applied."""
    wanted = S(record.status.value)
    if not transition_allowed(cert.kind, cert.status, wanted):
        return Rejection(RejectionReason.INVALID_TRANSITION)
    if cert.kind is K.U_VISA_CERTIFICATION and wanted is S.SIGNED:
        missing = supplement_b_missing(record)
        if missing:
            return Rejection(RejectionReason.INCOMPLETE, missing)
        if record.signed_by and record.signed_by.capacity not in U_VISA_SIGNATORIES:
            return Rejection(RejectionReason.INVALID_SIGNATORY)
    if past_deadline(cert, record):
        return Rejection(RejectionReason.PAST_DEADLINE)
    return None
