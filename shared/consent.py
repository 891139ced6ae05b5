"""A person's consents to disclose, and the one question disclosure asks of them (P2;
docs/design.md, Consent (P2)). Pure.

Each consent is recorded on ``consents.recorded`` and may be revoked on
``consents.revoked`` — also before its record arrives (the two topics are not ordered with
each other): a consent whose id was revoked is revoked whenever it arrives. A consent id is
recorded once; a later record under the same id changes nothing.

Intake, the vault's owner, asks :func:`covering` before it discloses anything; the
dashboard asks :func:`why_not` (and :func:`nearest`, the consent it speaks of) to show the
specialist why a scope is shared or not. Nothing
here decides whether a person is helped: a service request never reads a consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from shared.contracts.inbound import ConsentForm, ConsentRecorded, ConsentRevoked, ConsentScope, RecipientKind

DISCLOSING_FORMS = frozenset({ConsentForm.WRITTEN.value, ConsentForm.ELECTRONIC.value})


class Consent(BaseModel):
    consent_id: str
    scope: list[str]
    recipient_kind: str
    recipient_id: str
    form: str
    given_at: datetime
    expires_at: datetime
    recorded_by: str | None = None
    revoked_at: datetime | None = None


class Uncovered(StrEnum):
    """Why a scope is not shared with a recipient (what the specialist is shown; no PII)."""

    NO_CONSENT = "no_consent"  # none for this recipient and scope
    NOT_WRITTEN = "not_written"  # only a verbal one
    NOT_YET = "not_yet"  # given later than now
    EXPIRED = "expired"
    REVOKED = "revoked"


# Which reason why_not gives when several consents miss: the first that applies.
NEAREST = (Uncovered.REVOKED, Uncovered.EXPIRED, Uncovered.NOT_YET, Uncovered.NOT_WRITTEN)

Consents = Mapping[str, Consent]
Revoked = Mapping[str, datetime]


def fold(consents: Consents, revoked: Revoked, event: ConsentRecorded | ConsentRevoked
         ) -> tuple[dict[str, Consent], dict[str, datetime]]:
    """The consents and revocations after one event: a consent recorded once (its first
    record), a revocation kept also before its consent arrives."""
    kept, gone = dict(consents), dict(revoked)
    if isinstance(event, ConsentRevoked):
        gone.setdefault(event.consent_id, event.at)
        line = kept.get(event.consent_id)
        if line is not None and line.revoked_at is None:
            kept[event.consent_id] = line.model_copy(update={"revoked_at": gone[event.consent_id]})
        return kept, gone
    if event.consent_id not in kept:
        kept[event.consent_id] = Consent(
            consent_id=event.consent_id, scope=sorted({s.value for s in event.scope}),
            recipient_kind=event.recipient.kind.value, recipient_id=event.recipient.id, form=event.form.value,
            given_at=event.given_at, expires_at=event.expires_at, recorded_by=event.recorded_by.id,
            revoked_at=gone.get(event.consent_id))
    return kept, gone


def reason(consent: Consent, revoked: Revoked, now: datetime) -> Uncovered | None:
    """Why this consent discloses nothing now; None when it is in force."""
    if consent.revoked_at is not None or consent.consent_id in revoked:
        return Uncovered.REVOKED
    if consent.form not in DISCLOSING_FORMS:
        return Uncovered.NOT_WRITTEN
    if now < consent.given_at:
        return Uncovered.NOT_YET
    if now >= consent.expires_at:
        return Uncovered.EXPIRED
    return None


def covering(consents: Consents, revoked: Revoked, kind: RecipientKind, recipient_id: str,
             scope: ConsentScope, now: datetime) -> Consent | None:
    """The consent that lets this recipient see this scope now, the one lasting longest; None."""
    found = [c for c in _for(consents, kind, recipient_id, scope) if reason(c, revoked, now) is None]
    return max(found, key=lambda c: (c.expires_at, c.consent_id)) if found else None


def why_not(consents: Consents, revoked: Revoked, kind: RecipientKind, recipient_id: str,
            scope: ConsentScope, now: datetime) -> Uncovered | None:
    """None when a consent covers it; else the reason of the consent that came closest."""
    line = nearest(consents, revoked, kind, recipient_id, scope, now)
    return Uncovered.NO_CONSENT if line is None else reason(line, revoked, now)


def nearest(consents: Consents, revoked: Revoked, kind: RecipientKind, recipient_id: str,
            scope: ConsentScope, now: datetime) -> Consent | None:
    """The consent :func:`why_not` speaks of: the covering one; else the one whose reason
    ranks first (revoked, expired, not yet, verbal), the longest lasting of those; None when
    there is no consent for this recipient and scope at all."""
    found = [(reason(c, revoked, now), c) for c in _for(consents, kind, recipient_id, scope)]
    if not found:
        return None
    rank = [None, *NEAREST]
    ranked = min(rank.index(why) for why, _ in found)
    return max((c for why, c in found if rank.index(why) == ranked), key=lambda c: (c.expires_at, c.consent_id))


def _for(consents: Consents, kind: RecipientKind, recipient_id: str, scope: ConsentScope) -> Iterable[Consent]:
    return [c for c in consents.values()
            if c.recipient_kind == kind.value and c.recipient_id == recipient_id and scope.value in c.scope]
