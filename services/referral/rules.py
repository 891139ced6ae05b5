"""Which responses on ``referrals.responded`` cannot be applied, as named rules (the rejection
reasons), and the event that says so.

A response for an unknown or superseded referral, from a specialist it was not
assigned to, or for a referral already accepted, is never applied and never silently
dropped: it becomes a ``ReferralResponseRejected`` (and a log line, see the app).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared.contracts.inbound import ReferralResponded
from shared.contracts.referrals import ReferralResponseRejected, RejectionReason

if TYPE_CHECKING:
    from .state import CaseReferral

DETAILS = {
    RejectionReason.UNKNOWN_CASE: "no referral exists for this case",
    RejectionReason.UNKNOWN_REFERRAL: "this case never had a referral with this id",
    RejectionReason.SUPERSEDED: "the referral was declined, timed out or replaced by a newer one",
    RejectionReason.WRONG_SPECIALIST: "the referral is assigned to another specialist",
    RejectionReason.ALREADY_ANSWERED: "the referral was already accepted",
}


def reject_reason(state: CaseReferral | None, response: ReferralResponded) -> RejectionReason | None:
    if state is None:
        return RejectionReason.UNKNOWN_CASE
    current = state.current
    if current is None or current.referral_id != response.referral_id:
        if any(e.referral_id == response.referral_id for e in state.history):
            return RejectionReason.SUPERSEDED
        return RejectionReason.UNKNOWN_REFERRAL
    if current.specialist_id != response.specialist_id:
        return RejectionReason.WRONG_SPECIALIST
    if state.status == "accepted":
        return RejectionReason.ALREADY_ANSWERED
    return None


def rejected(state: CaseReferral | None, response: ReferralResponded, event_id: str,
             reason: RejectionReason, now: datetime) -> ReferralResponseRejected:
    return ReferralResponseRejected(
        case_id=response.case_id, referral_id=response.referral_id, specialist_id=response.specialist_id,
        response=response.response, rejection=reason, detail=DETAILS[reason],
        response_event_id=event_id[:500], rejected_at=now,
        agency_id=state.agency_id if state else None, region=state.region if state else None,
        current_referral_id=state.current.referral_id if state and state.current else None,
    )
