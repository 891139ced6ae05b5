"""The person's consents to disclose, as the vault's owner keeps them (P2; docs/design.md,
Consent (P2)).

One aggregate per case in ``consents``, folded by :func:`shared.consent.fold` from
``consents.recorded`` and ``consents.revoked``. :func:`covering` is the one question
disclosure asks; nothing here decides whether a person is helped (a service request never
reads a consent): consent gates only what a recipient may see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared import consent
from shared.consent import Consent, Uncovered
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, ConsentScope, RecipientKind
from shared.kit import Inbound

COLLECTION = "consents"
__all__ = ["COLLECTION", "CaseConsents", "Consent", "Uncovered", "covering", "decide", "why_not"]


class CaseConsents(BaseModel):
    case_id: str
    consents: dict[str, Consent] = {}
    revoked: dict[str, datetime] = {}  # consent id -> when; kept also before its consent arrives


def decide(state: CaseConsents | None, event: Inbound, now: datetime) -> tuple[CaseConsents, list[Any]]:
    data = event.data
    file = state or CaseConsents(case_id=data.case_id)
    if isinstance(data, ConsentRecorded | ConsentRevoked):
        kept, gone = consent.fold(file.consents, file.revoked, data)
        file = file.model_copy(update={"consents": kept, "revoked": gone})
    return file, []


def covering(file: CaseConsents | None, kind: RecipientKind, recipient_id: str, scope: ConsentScope,
             now: datetime) -> Consent | None:
    """The consent that lets this recipient see this scope now, the one lasting longest; None."""
    return consent.covering(file.consents, file.revoked, kind, recipient_id, scope, now) if file else None


def why_not(file: CaseConsents | None, kind: RecipientKind, recipient_id: str, scope: ConsentScope,
            now: datetime) -> Uncovered | None:
    """None when a consent covers it; else the reason of the consent that came closest."""
    if file is None:
        return Uncovered.NO_CONSENT
    return consent.why_not(file.consents, file.revoked, kind, recipient_id, scope, now)
