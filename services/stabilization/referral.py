"""Engagement from ``referrals.events``: the specialist accepted the referral (rule 4),
and whether the assigned specialist speaks the person's language (rule 3)."""

from __future__ import annotations

from shared.contracts.referrals import CaseUnassigned, ReferralAccepted, ReferralAssigned
from shared.contracts.stabilization import PlanChange

from .reaction import Reaction
from .state import Plan


def when_referral_changed(plan: Plan, event: ReferralAssigned | ReferralAccepted | CaseUnassigned) -> Reaction:
    hints = {"region": plan.region or event.region, "agency_id": plan.agency_id or event.agency_id}
    if isinstance(event, ReferralAccepted):
        update = {"referral_id": event.referral_id, "specialist_id": event.specialist_id, "engaged": True}
        return Reaction(plan.model_copy(update=hints | update), change=PlanChange.SPECIALIST_ENGAGED)
    if isinstance(event, ReferralAssigned):
        # A new referral is not engaged until its specialist accepts it.
        engaged = plan.engaged and plan.referral_id == event.referral_id
        update = {"referral_id": event.referral_id, "specialist_id": event.specialist_id,
                  "engaged": engaged, "language_match": event.language_match}
    else:
        update = {"referral_id": None, "specialist_id": None, "engaged": False, "language_match": None}
    return Reaction(plan.model_copy(update=hints | update), change=PlanChange.REFERRAL_CHANGED)
