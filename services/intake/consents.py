"""The person's consents to disclose, as the vault's owner keeps them (P2; docs/design.md,
Consent (P2)).

One aggregate per case in ``consents``, folded by :func:`shared.consent.fold` from
``consents.recorded`` and ``consents.revoked``. :func:`covering` is the one question
disclosure asks; nothing here decides whether a person is helped (a service request never
reads a consent): consent gates only what a recipient may see.

Each consent in a disclosing form arms two durable timers when it is first recorded (see
:func:`schedule`): a reminder ``Policy.reminder`` before it lapses (``ConsentExpiring``:
the case's specialist is told, while the person can still give a new one) and its lapse at
``expires_at`` (``ConsentLapsed``). A revocation disarms both. Each fires once: a fired
timer leaves the state and is noted as told, and a consent id already kept never arms again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from shared import consent
from shared.consent import DISCLOSING_FORMS, Consent, Uncovered
from shared.contracts.consents import ConsentExpiring, ConsentLapsed
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, ConsentScope, RecipientKind
from shared.kit import Inbound, TimerFired
from shared.settings import IntakeSettings

COLLECTION = "consents"
REMIND = "remind"  # timer: tell the specialist the consent lapses soon
LAPSE = "lapse"  # timer: the consent lapses
__all__ = ["COLLECTION", "CaseConsents", "Consent", "Policy", "Uncovered", "covering", "decide", "why_not"]


@dataclass(frozen=True)
class Policy:
    """How long before a consent lapses the specialist is reminded (``CASEWORK_CONSENT_REMINDER_DAYS``)."""

    reminder: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> Policy:
        return cls(reminder=timedelta(days=settings.consent_reminder_days))


class CaseConsents(BaseModel):
    case_id: str
    consents: dict[str, Consent] = {}
    revoked: dict[str, datetime] = {}  # consent id -> when; kept also before its consent arrives
    timers: dict[str, datetime] = {}  # timer_name(consent id, REMIND | LAPSE) -> due
    told: list[str] = []  # the timers that fired and were told (each is told once)


def timer_name(consent_id: str, what: str) -> str:
    """``<consent id>#<what>``, '.' in the id written '~' (a document key holds no '.'; neither
    '~' nor '#' can occur in an id, so the name reads back)."""
    return f"{consent_id.replace('.', '~')}#{what}"


def parse(name: str) -> tuple[str, str]:
    """(consent id, what) of a timer name."""
    escaped, _, what = name.rpartition("#")
    return escaped.replace("~", "."), what


DEFAULT_POLICY = Policy()


def decide(state: CaseConsents | None, event: Inbound, now: datetime, *,
           policy: Policy = DEFAULT_POLICY) -> tuple[CaseConsents | None, list[Any]]:
    data = event.data
    if isinstance(data, TimerFired):
        return fired(state, data, now) if state is not None else (state, [])
    file = state or CaseConsents(case_id=data.case_id)
    if isinstance(data, ConsentRecorded | ConsentRevoked):
        kept, gone = consent.fold(file.consents, file.revoked, data)
        timers = dict(file.timers)
        if isinstance(data, ConsentRevoked):
            timers = disarmed(timers, data.consent_id)
        elif data.consent_id not in file.consents:  # its first record: a later one changes nothing
            timers |= schedule(kept[data.consent_id], now, policy)
        file = file.model_copy(update={"consents": kept, "revoked": gone, "timers": timers})
    return file, []


def schedule(kept: Consent, now: datetime, policy: Policy) -> dict[str, datetime]:
    """The timers a newly recorded consent arms: its reminder and its lapse.

    Nothing for a verbal consent (it discloses nothing, so there is nothing to remind of or
    to end), for a revoked one (its revocation came first), or for one already expired when
    recorded (nothing was ever disclosed under it here). No reminder for a consent shorter
    than the reminder window (its reminder would fall before it was given: whoever recorded it
    has just been told when it ends). A reminder whose time has passed but whose consent has
    not lapsed (a consent recorded late, or backdated) fires at once, at the next sweep.
    """
    if kept.form not in DISCLOSING_FORMS or kept.revoked_at is not None or kept.expires_at <= now:
        return {}
    remind_at = kept.expires_at - policy.reminder
    reminder = {timer_name(kept.consent_id, REMIND): remind_at} if remind_at > kept.given_at else {}
    return reminder | {timer_name(kept.consent_id, LAPSE): kept.expires_at}


def disarmed(timers: dict[str, datetime], consent_id: str) -> dict[str, datetime]:
    return {name: at for name, at in timers.items() if parse(name)[0] != consent_id}


def fired(file: CaseConsents, timer: TimerFired, now: datetime) -> tuple[CaseConsents, list[Any]]:
    """A consent's timer came due: it leaves the state, and says so once (nothing for a consent
    revoked meanwhile, whose timers a revocation already took away)."""
    consent_id, what = parse(timer.name)
    kept = file.consents.get(consent_id)
    rest = {k: v for k, v in file.timers.items() if k != timer.name}
    if timer.name in file.told or kept is None:
        return file.model_copy(update={"timers": rest}), []
    file = file.model_copy(update={"timers": rest, "told": [*file.told, timer.name]})
    if consent_id in file.revoked:
        return file, []
    facts = {"case_id": file.case_id, "consent_id": consent_id, "recipient_kind": kept.recipient_kind,
             "recipient_id": kept.recipient_id, "scope": kept.scope}
    if what == LAPSE:
        return file, [ConsentLapsed.model_validate(facts | {"expired_at": kept.expires_at}, strict=False)]
    if what == REMIND and now < kept.expires_at and not renewed(file, kept):
        return file, [ConsentExpiring.model_validate(facts | {
            "form": kept.form, "expires_at": kept.expires_at, "remind_at": timer.due_at}, strict=False)]
    return file, []  # a reminder due only after its lapse (the lapse tells), or already renewed


def renewed(file: CaseConsents, kept: Consent) -> bool:
    """Whether other consents in force cover each of its scopes for the same recipient from
    the moment it lapses: the person already gave a new one, nothing to remind of."""
    kind = RecipientKind(kept.recipient_kind)
    return all(consent.covering(file.consents, file.revoked, kind, kept.recipient_id, ConsentScope(s),
                                kept.expires_at) is not None for s in kept.scope)


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
