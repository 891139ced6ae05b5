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

A case's life (requests on ``cases.closed``, ``cases.reopened``, ``referrals.reassigned`` and
withdrawals on ``cases.opened``; the referral service decides who may act):

* ``CaseClosureApplied``        -> stage ``closed``; the holder's capacity slot is free at once
* ``CaseReopeningApplied``      -> open again; followed by ``ReferralAssigned`` (the previous
  holder if on duty with capacity) or ``CaseUnassigned``
* ``ReferralReleased``          -> a referral that stopped being current without a response
  (its specialist left the roster, a supervisor moved the case, the case closed)
* ``ReferralAssigned`` with ``handover_from``: the holder stays responsible until the new
  specialist accepts; a decline is followed by ``HolderKept``
* ``CaseNeedsHolder``           -> the accepted specialist left: the supervisors must choose
* ``CaseActionRejected``        -> no change: a close, reopen or reassignment not applied, and why

``escalations`` is the case's count of missed acknowledgement deadlines so far, on every
event. No field identifies the person (rule 7, P2): ids, codes and timestamps only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared.contracts.common import Identifier, Payload, Priority, Region, ShortText, Timestamp
from shared.contracts.inbound import Actor, ClosureReason, ReassignmentReason, ReferralResponseKind, ReopenReason

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
    # Set when a supervisor or the holder moved the case (reassignment or handover).
    reassigned_by: Actor | None = None
    reassignment_reason: ReassignmentReason | None = None
    # A handover: this specialist (the holder, accepted) stays responsible until the new one accepts.
    handover_from: Identifier | None = None


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
    # 1 when the case becomes unassigned, then one more per re-alert (CASEWORK_UNASSIGNED_REALERT_SECONDS).
    alert: int = Field(default=1, ge=1)


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


class CaseActionKind(StrEnum):
    CLOSE = "close"
    REOPEN = "reopen"
    REASSIGN = "reassign"


class CaseActionRejection(StrEnum):
    UNKNOWN_CASE = "unknown_case"  # no case with this id was ever opened here
    NOT_ENTITLED = "not_entitled"  # neither the case's holder nor a supervisor covering it
    ALREADY_CLOSED = "already_closed"
    NOT_CLOSED = "not_closed"  # a reopen of an open case
    UNKNOWN_SPECIALIST = "unknown_specialist"  # the named specialist is not on the roster
    NOT_AVAILABLE = "not_available"  # the named specialist is off duty, declined, or full
    ALREADY_HOLDER = "already_holder"  # the named specialist holds the case already
    NO_HOLDER = "no_holder"  # a handover of a case no one has accepted


class ReleaseReason(StrEnum):
    SPECIALIST_DEPARTED = "specialist_departed"  # tombstone or on_duty false on the roster
    REASSIGNED = "reassigned"  # a supervisor moved the case
    HANDED_OVER = "handed_over"  # the new specialist accepted a handover
    CASE_CLOSED = "case_closed"


class CaseClosureApplied(ReferralEvent):
    """The case is closed. ``released_specialist_id`` held it until now (its slot is free)."""

    TYPE: ClassVar[str] = "casework.referral.case_closed.v1"

    closed_at: Timestamp
    closed_by: Actor | None = None  # None: the agency withdrew the encounter (reason ``withdrawn``)
    reason: ClosureReason
    referral_id: Identifier | None = None
    released_specialist_id: Identifier | None = None
    request_event_id: ShortText


class CaseReopeningApplied(ReferralEvent):
    TYPE: ClassVar[str] = "casework.referral.case_reopened.v1"

    reopened_at: Timestamp
    reopened_by: Actor
    reason: ReopenReason
    reopen_count: int = Field(ge=1)
    previous_specialist_id: Identifier | None = None
    request_event_id: ShortText


class ReferralReleased(ReferralEvent):
    """A referral stopped being current without a response; no escalation is counted."""

    TYPE: ClassVar[str] = "casework.referral.released.v1"

    referral_id: Identifier
    specialist_id: Identifier
    released_at: Timestamp
    reason: ReleaseReason


class HolderKept(ReferralEvent):
    """A handover was declined (or could not go ahead): the holder keeps the case."""

    TYPE: ClassVar[str] = "casework.referral.holder_kept.v1"

    referral_id: Identifier  # the holder's accepted referral
    specialist_id: Identifier
    assigned_at: Timestamp
    accepted_at: Timestamp
    ack_due_at: Timestamp
    declined_referral_id: Identifier
    kept_at: Timestamp


class CaseNeedsHolder(ReferralEvent):
    """The specialist who accepted this case left the roster: the supervisors must choose
    a new holder (alerted, shown on the board), never silently left."""

    TYPE: ClassVar[str] = "casework.referral.case_needs_holder.v1"

    referral_id: Identifier
    specialist_id: Identifier  # who left
    flagged_at: Timestamp
    scope: NotificationScope = NotificationScope.REGION


class CaseActionRejected(Payload):
    """A close, reopen or reassignment that was not applied, and why (never silent)."""

    TOPIC: ClassVar[str] = TOPIC
    TYPE: ClassVar[str] = "casework.referral.case_action_rejected.v1"

    case_id: Identifier
    action: CaseActionKind
    actor: Actor
    rejection: CaseActionRejection
    request_event_id: ShortText
    rejected_at: Timestamp
    agency_id: Identifier | None = None
    region: Region | None = None


REFERRAL_EVENTS: tuple[type[Payload], ...] = (
    ReferralAssigned,
    ReferralAccepted,
    ReferralDeclined,
    ReferralEscalated,
    CaseUnassigned,
    ReferralResponseRejected,
    CaseClosureApplied,
    CaseReopeningApplied,
    ReferralReleased,
    HolderKept,
    CaseNeedsHolder,
    CaseActionRejected,
)
