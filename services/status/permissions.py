"""Who may act on a case from the dashboard, read from the status read model (docs/design.md,
The working surface).

The dashboard refuses (403) what a token may plainly not do; the referral service, which
knows the roster, stays the authority on a case's life and refuses the rest on
``referrals.events`` (``CaseActionRejected``, ``ReferralResponseRejected``). Pure functions
of a principal and a case view.
"""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.inbound import Actor, ActorRole
from shared.contracts.status import ReferralStatus

from .access import Principal, Role
from .state import CaseView


class CaseAction(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    RECORD_MILESTONE = "record_milestone"
    CLOSE = "close"
    REOPEN = "reopen"
    REASSIGN = "reassign"
    READ_IDENTITY = "read_identity"
    REQUEST_SERVICE = "request_service"
    RECORD_CONSENT = "record_consent"  # and revoke one


def actor_of(principal: Principal) -> Actor | None:
    """The actor an inbound event names: the token's roster id, never anything from a body.
    A supervisor token without a ``specialist_id`` acts under its name."""
    if principal.role == Role.SPECIALIST and principal.specialist_id:
        return Actor(id=principal.specialist_id, role=ActorRole.VICTIM_SPECIALIST)
    if principal.role == Role.SUPERVISOR:
        return Actor(id=principal.specialist_id or principal.name, role=ActorRole.SUPERVISOR)
    return None


def closed(view: CaseView) -> bool:
    return view.life.closed_at is not None


def offered_referral(view: CaseView, specialist_id: str | None) -> str | None:
    """The referral this specialist is asked to answer: the current one while it waits for them,
    or a handover offered to them."""
    referral = view.referral
    if specialist_id is None or closed(view):
        return None
    if referral.handover_to == specialist_id and referral.handover_referral_id:
        return referral.handover_referral_id
    waiting = referral.status in (ReferralStatus.ASSIGNED, ReferralStatus.ESCALATED)
    if waiting and referral.specialist_id == specialist_id and referral.referral_id:
        return referral.referral_id
    return None


def accepted_holder(view: CaseView) -> str | None:
    referral = view.referral
    return referral.specialist_id if referral.status == ReferralStatus.ACCEPTED else None


def supervises(principal: Principal, view: CaseView) -> bool:
    """A supervisor token whose agencies cover the case (the referral service then checks the
    roster: regions, and the organisation of the specialist who has it)."""
    return principal.role == Role.SUPERVISOR and view.opened is not None and principal.may_see(
        view.opened.agency_id, view.referral.specialist_id)


def allowed(principal: Principal, view: CaseView) -> frozenset[CaseAction]:
    """Every action this principal may take on this case now."""
    mine = principal.specialist_id if principal.role == Role.SPECIALIST else None
    holder = mine is not None and accepted_holder(view) == mine
    supervisor = supervises(principal, view)
    actions: set[CaseAction] = set()
    if closed(view):
        was_holder = mine is not None and mine in (view.referral.released_specialist_id, view.referral.specialist_id)
        if was_holder or supervisor:
            actions.add(CaseAction.REOPEN)
        return frozenset(actions)
    if offered_referral(view, mine):
        actions |= {CaseAction.ACCEPT, CaseAction.DECLINE}
    if holder:
        actions |= {CaseAction.RECORD_MILESTONE, CaseAction.READ_IDENTITY, CaseAction.CLOSE, CaseAction.REASSIGN,
                    CaseAction.REQUEST_SERVICE, CaseAction.RECORD_CONSENT}
    if supervisor:
        actions |= {CaseAction.CLOSE, CaseAction.REASSIGN}
    return frozenset(actions)
