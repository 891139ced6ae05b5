"""What the referral service publishes on ``referrals.events`` (rule 1, D2).

One case has at most one *current* referral. Every event names the case, the case's
agency, region and priority, so the notify service can mail the assigned specialist or
the region's supervisors, and the status service can build
``referral{referral_id, specialist_id, status, assigned_at, accepted_at, ack_due_at,
escalations}`` from these events alone:

* ``ReferralAssigned``          -> status ``assigned``   (also after a decline or an escalation)
* ``ReferralAccepted``          -> status ``accepted``
* ``ReferralDeclined``          -> followed at once by ``ReferralAssigned`` or ``CaseUnassigned``
* ``ReferralEscalated``         -> status ``escalated``; followed at once by ``ReferralAssigned``
  or ``CaseUnassigned`` (same key, so in that order on the topic)
* ``CaseUnassigned``            -> status ``unassigned`` (no referral is current)
* ``ReferralResponseRejected``  -> no change: a response that was not applied, and why

``escalations`` is the case's count of missed acknowledgement deadlines so far, on every
event. No field identifies the person (rule 7, P2): ids, codes and timestamps only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared.contracts.common import Identifier, Payload, Priority, Region, ShortText, Timestamp
from shared.contracts.inbound import ReferralResponseKind

TOPIC = "referrals.events"


class NotificationScope(StrEnum):
    """Which on-duty supervisors notify alerts: the case's region's, or every one."""

    REGION = "region"
    ALL = "all"


class RejectionReason(StrEnum):
    UNKNOWN_CASE = "unknown_case"  # no case with this id was ever opened here
    UNKNOWN_REFERRAL = "unknown_referral"  # the case never had a referral with this id
    SUPERSEDED = "superseded"  # the referral was declined, timed out or replaced
    WRONG_SPECIALIST = "wrong_specialist"  # the referral was not assigned to this specialist
    ALREADY_ANSWERED = "already_answered"  # the referral was accepted already


class ReferralEvent(Payload):
    """Fields every referral event carries."""

    TOPIC: ClassVar[str] = TOPIC

    case_id: Identifier
    agency_id: Identifier  # the agency that reported the encounter (from cases.opened)
    region: Region
    priority: Priority
    escalations: int = Field(ge=0)


class ReferralAssigned(ReferralEvent):
    """A victim specialist was assigned, without any human step (rule 1, D2).

    ``ack_due_at`` = ``assigned_at`` + the acknowledgement SLA of the case's priority.
    ``attempt`` counts the assignments of this case (1 for the first). ``language_match``
    is false when no assigned specialist speaks one of the person's languages: an
    interpreter is needed (rule 3, D4).
    """

    TYPE: ClassVar[str] = "casework.referral.assigned.v1"

    referral_id: Identifier
    specialist_id: Identifier
    assigned_at: Timestamp
    ack_due_at: Timestamp
    attempt: int = Field(ge=1)
    language_match: bool


class ReferralAccepted(ReferralEvent):
    """The assigned specialist accepted the referral (a stabilization gate, rule 4)."""

    TYPE: ClassVar[str] = "casework.referral.accepted.v1"

    referral_id: Identifier
    specialist_id: Identifier
    assigned_at: Timestamp
    accepted_at: Timestamp
    ack_due_at: Timestamp


class ReferralDeclined(ReferralEvent):
    """The assigned specialist declined; the reason is kept. Reassignment follows at once."""

    TYPE: ClassVar[str] = "casework.referral.declined.v1"

    referral_id: Identifier
    specialist_id: Identifier
    declined_at: Timestamp
    reason: ShortText | None = None


class ReferralEscalated(ReferralEvent):
    """The referral was not accepted by ``ack_due_at``; reassignment follows at once.

    ``scope`` is ``region`` while ``escalations`` <= ``CASEWORK_MAX_ESCALATIONS`` (alert the
    region's on-duty supervisors) and ``all`` beyond (alert every on-duty supervisor).
    """

    TYPE: ClassVar[str] = "casework.referral.escalated.v1"

    referral_id: Identifier  # the referral that was not accepted in time
    specialist_id: Identifier  # who did not accept it
    assigned_at: Timestamp
    ack_due_at: Timestamp
    escalated_at: Timestamp
    scope: NotificationScope


class CaseUnassigned(ReferralEvent):
    """No on-duty victim specialist with capacity covers the region right now.

    Published once each time a case becomes unassigned (the region's supervisors are
    alerted; ``scope`` ``all`` once escalations went beyond the limit). The service keeps
    retrying — when the roster changes and periodically — and publishes
    ``ReferralAssigned`` as soon as anyone can take the case.
    """

    TYPE: ClassVar[str] = "casework.case.unassigned.v1"

    unassigned_at: Timestamp
    reason: ShortText
    scope: NotificationScope = NotificationScope.REGION
    previous_referral_id: Identifier | None = None
    previous_specialist_id: Identifier | None = None


class ReferralResponseRejected(Payload):
    """A response on ``referrals.responded`` that was not applied, and why (never silent)."""

    TOPIC: ClassVar[str] = TOPIC
    TYPE: ClassVar[str] = "casework.referral_response.rejected.v1"

    case_id: Identifier
    referral_id: Identifier
    specialist_id: Identifier
    response: ReferralResponseKind
    rejection: RejectionReason
    detail: ShortText
    response_event_id: ShortText  # the CloudEvent id of the rejected response
    rejected_at: Timestamp
    # Known when the case is: so the referral's own view can show the attempt.
    agency_id: Identifier | None = None
    region: Region | None = None
    current_referral_id: Identifier | None = None


REFERRAL_EVENTS: tuple[type[Payload], ...] = (
    ReferralAssigned,
    ReferralAccepted,
    ReferralDeclined,
    ReferralEscalated,
    CaseUnassigned,
    ReferralResponseRejected,
)
