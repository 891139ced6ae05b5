"""The person's consents to disclose, as the vault's owner keeps them (P2; docs/design.md,
Support services: consent).

One aggregate per case in ``consents``: each consent recorded on ``consents.recorded``, and
each revocation on ``consents.revoked`` — also one that arrives before its consent (the two
topics are not ordered with each other): a consent whose id was revoked is revoked whenever
it arrives. A consent id is recorded once; a later record under the same id changes nothing.

:func:`covering` is the one question disclosure asks: which consent, if any, lets this
recipient see this scope now — for this recipient, in ``written`` or ``electronic`` form,
given and not yet expired, not revoked. Nothing here decides whether a person is helped
(a service request never reads a consent): consent gates only what a recipient may see.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.contracts.inbound import ConsentForm, ConsentRecorded, ConsentRevoked, ConsentScope, RecipientKind
from shared.kit import Inbound

COLLECTION = "consents"
DISCLOSING_FORMS = frozenset({ConsentForm.WRITTEN.value, ConsentForm.ELECTRONIC.value})


class Consent(BaseModel):
    consent_id: str
    scope: list[str]
    recipient_kind: str
    recipient_id: str
    form: str
    given_at: datetime
    expires_at: datetime
    recorded_by: str


class CaseConsents(BaseModel):
    case_id: str
    consents: dict[str, Consent] = {}
    revoked: dict[str, datetime] = {}  # consent id -> when; kept also before its consent arrives


class Uncovered(StrEnum):
    """Why a scope is not shared with a recipient (what the specialist is shown; no PII)."""

    NO_CONSENT = "no_consent"  # none for this recipient and scope
    NOT_WRITTEN = "not_written"  # only a verbal one
    NOT_YET = "not_yet"  # given later than now
    EXPIRED = "expired"
    REVOKED = "revoked"


def decide(state: CaseConsents | None, event: Inbound, now: datetime) -> tuple[CaseConsents, list[Any]]:
    data = event.data
    file = state or CaseConsents(case_id=data.case_id)
    if isinstance(data, ConsentRecorded) and data.consent_id not in file.consents:
        consent = Consent(consent_id=data.consent_id, scope=sorted({s.value for s in data.scope}),
                          recipient_kind=data.recipient.kind.value, recipient_id=data.recipient.id,
                          form=data.form.value, given_at=data.given_at, expires_at=data.expires_at,
                          recorded_by=data.recorded_by.id)
        file = file.model_copy(update={"consents": {**file.consents, consent.consent_id: consent}})
    elif isinstance(data, ConsentRevoked) and data.consent_id not in file.revoked:
        file = file.model_copy(update={"revoked": {**file.revoked, data.consent_id: data.at}})
    return file, []


def covering(file: CaseConsents | None, kind: RecipientKind, recipient_id: str, scope: ConsentScope,
             now: datetime) -> Consent | None:
    """The consent that lets this recipient see this scope now, the one lasting longest; None."""
    found = [c for c in _for(file, kind, recipient_id, scope) if _why_not(file, c, now) is None]
    return max(found, key=lambda c: (c.expires_at, c.consent_id)) if found else None


def why_not(file: CaseConsents | None, kind: RecipientKind, recipient_id: str, scope: ConsentScope,
            now: datetime) -> Uncovered | None:
    """None when a consent covers it; else the reason of the consent that came closest."""
    reasons = [_why_not(file, c, now) for c in _for(file, kind, recipient_id, scope)]
    if not reasons:
        return Uncovered.NO_CONSENT
    if None in reasons:
        return None
    order = [Uncovered.REVOKED, Uncovered.EXPIRED, Uncovered.NOT_YET, Uncovered.NOT_WRITTEN]
    return min((r for r in reasons if r is not None), key=order.index)


def _for(file: CaseConsents | None, kind: RecipientKind, recipient_id: str, scope: ConsentScope) -> list[Consent]:
    if file is None:
        return []
    return [c for c in file.consents.values()
            if c.recipient_kind == kind.value and c.recipient_id == recipient_id and scope.value in c.scope]


def _why_not(file: CaseConsents | None, consent: Consent, now: datetime) -> Uncovered | None:
    if file is not None and consent.consent_id in file.revoked:
        return Uncovered.REVOKED
    if consent.form not in DISCLOSING_FORMS:
        return Uncovered.NOT_WRITTEN
    if now < consent.given_at:
        return Uncovered.NOT_YET
    if now >= consent.expires_at:
        return Uncovered.EXPIRED
    return None
