"""What a service request shares with its provider, scope by scope, and why not (pure; P2).

The specialist asks to share some scopes with the provider (``share[]`` of the request);
a scope is shared only where a written or electronic consent of the person lets that
provider see it now (:mod:`shared.consent`, the rule intake discloses by), and only while
the request is open: once declined or completed its disclosure link is closed (intake's
``request_ended``; docs/design.md, Disclosure). The case page shows these lines to the
specialist who accepted the case only, next to the provider they are about; nothing here
reaches ``cases.status`` or the timeline.

The words name consents by id and days (UTC), never the person or the provider.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from shared import consent
from shared.consent import Consent, Revoked, Uncovered
from shared.contracts.inbound import ConsentScope, RecipientKind
from shared.contracts.status import ServiceStatus

from .sources import ENDED_SERVICES
from .state import CaseView, Service

REQUEST_ENDED = "request_ended"  # declined or completed: the provider's link is closed, whatever the consents


class Sharing(BaseModel):
    """One scope a request asked to share: shared or not, the consent it turns on, in words."""

    scope: str  # ConsentScope
    shared: bool
    reason: str | None = None  # Uncovered or REQUEST_ENDED, when not shared
    consent_id: str | None = None  # the covering consent, or the one the reason is of
    text: str


def day(moment: datetime) -> str:
    """A moment as its UTC day, e.g. 2026-12-30 (a consent's form asks for a day)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def words(why: Uncovered | None, line: Consent | None, revoked: Revoked) -> str:
    """What the specialist reads for one scope: shared until when, or why not."""
    if line is None or why == Uncovered.NO_CONSENT:
        return "not shared: no consent for this provider covers it"
    if why is None:
        return f"shared (consent {line.consent_id}, until {day(line.expires_at)})"
    if why == Uncovered.NOT_WRITTEN:
        return f"not shared: only a verbal consent ({line.consent_id}) — a written or electronic one is needed"
    if why == Uncovered.EXPIRED:
        return f"not shared: consent {line.consent_id} expired on {day(line.expires_at)}"
    if why == Uncovered.NOT_YET:
        return f"not shared: consent {line.consent_id} is not yet in force (from {day(line.given_at)})"
    at = line.revoked_at or revoked.get(line.consent_id)
    return f"not shared: consent {line.consent_id} was revoked" + (f" on {day(at)}" if at else "")


def scope_line(view: CaseView, provider_id: str, scope: ConsentScope, now: datetime) -> Sharing:
    """Whether the provider may see this scope now, by the case's consents."""
    kind, revoked = RecipientKind.SERVICE_PROVIDER, view.revoked_consents
    line = consent.nearest(view.consents, revoked, kind, provider_id, scope, now)
    why = consent.why_not(view.consents, revoked, kind, provider_id, scope, now)
    return Sharing(scope=scope.value, shared=why is None, reason=why.value if why else None,
                   consent_id=line.consent_id if line else None, text=words(why, line, revoked))


def ended_line(request: Service, scope: ConsentScope) -> Sharing:
    """A scope of a request that was declined or completed: nothing more is shared."""
    return Sharing(scope=scope.value, shared=False, reason=REQUEST_ENDED,
                   text=f"not shared: the request was {request.status} — its disclosure link is closed")


def sharing(view: CaseView, request: Service, now: datetime) -> list[Sharing]:
    """One line per scope the request asked to share, in the contract's order; none when it
    asked for nothing (the request went out all the same: never conditioned on consent)."""
    asked = [scope for scope in ConsentScope if scope.value in request.share]
    if ServiceStatus(request.status) in ENDED_SERVICES:
        return [ended_line(request, scope) for scope in asked]
    return [scope_line(view, request.provider_id, scope, now) for scope in asked]
