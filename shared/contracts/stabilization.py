"""What the stabilization service publishes on ``stabilization.events`` (rules 3-5).

Every event carries the case's plan summary (``plan``) with a ``plan_version`` that only
grows, so a read model copies the newest summary instead of re-deriving the gate rules.
Nothing here identifies the person (rule 7, P2): case ids, rule names, needs, languages.
The officer's work e-mail in ``requested_by`` is the requester's, never the person's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared.contracts.common import (
    Contract,
    Identifier,
    LanguageTag,
    Payload,
    Region,
    ShortText,
    Timestamp,
    UrgentNeed,
)
from shared.contracts.inbound import InterviewRequester, LocationType, RecordedBy
from shared.contracts.status import HhsNotification, InterpreterStatus, InterviewStatus


class GateRule(StrEnum):
    """The interview gates (rule 4; D5, D6, I1): each name is a deferral reason."""

    NEEDS_NOT_ASSESSED = "needs_not_assessed"
    URGENT_NEEDS_OPEN = "urgent_needs_open"
    INTERPRETER_NOT_ARRANGED = "interpreter_not_arranged"
    LOCATION_NOT_NEUTRAL = "location_not_neutral"
    SPECIALIST_NOT_ENGAGED = "specialist_not_engaged"
    STABILIZATION_PERIOD = "stabilization_period"


class DeferralReason(Contract):
    """One unmet gate, with what a reader needs to act on it."""

    rule: GateRule
    detail: ShortText  # a sentence for a notification; never PII
    urgent_needs: list[UrgentNeed] = Field(default_factory=list)  # urgent_needs_open: which
    location_type: LocationType | None = None  # location_not_neutral: the proposed location
    remaining_hours: float | None = None  # stabilization_period; None until the case has opened
    ends_at: Timestamp | None = None  # stabilization_period: when it passes, if known


class InterviewSummary(Contract):
    """The case's most recently requested interview."""

    interview_id: Identifier | None = None
    status: InterviewStatus = InterviewStatus.NOT_REQUESTED
    reasons: list[GateRule] = Field(default_factory=list)  # empty unless deferred


class PlanSummary(Contract):
    """The whole plan as the status read model shows it (docs/design.md, Outbound topics)."""

    plan_version: int = Field(ge=1)  # grows by one per change: keep the highest
    case_opened: bool  # False while milestones arrived before ``cases.opened``
    minor: bool
    engaged: bool  # the specialist accepted the referral (rule 4)
    needs_assessed: bool
    urgent_needs_open: list[UrgentNeed]
    interpreter: InterpreterStatus  # as the gate sees it: ``needed`` until the case has opened here
    rights_explained: bool
    hhs_notification: HhsNotification
    hhs_due_at: Timestamp | None = None  # minors only (M1)
    interview: InterviewSummary


class PlanEvent(Payload):
    """Fields every ``stabilization.events`` payload has; keyed by case id."""

    TOPIC: ClassVar[str] = "stabilization.events"

    case_id: Identifier
    region: Region | None = None  # None only while the case has not opened here yet
    agency_id: Identifier | None = None
    specialist_id: Identifier | None = None  # the assigned (or accepting) specialist, if known
    plan: PlanSummary


class PlanChange(StrEnum):
    """What moved the plan, on a ``StabilizationProgressed``."""

    CASE_OPENED = "case_opened"
    SPECIALIST_ENGAGED = "specialist_engaged"  # ReferralAccepted
    REFERRAL_CHANGED = "referral_changed"  # reassigned or unassigned: engagement or language match moved
    NEEDS_ASSESSED = "needs_assessed"
    URGENT_NEED_MET = "urgent_need_met"
    INTERPRETER_ARRANGED = "interpreter_arranged"
    RIGHTS_EXPLAINED = "rights_explained"
    HHS_NOTIFIED = "hhs_notified"
    STABILIZATION_PERIOD_ENDED = "stabilization_period_ended"
    CASE_CORRECTED = "case_corrected"  # a higher revision of the encounter (CaseCorrected)
    CASE_CLOSED = "case_closed"  # CaseClosureApplied
    CASE_REOPENED = "case_reopened"  # CaseReopeningApplied


class StabilizationProgressed(PlanEvent):
    """The plan changed and no more specific event says so."""

    TYPE: ClassVar[str] = "casework.stabilization.progressed.v1"

    change: PlanChange
    recorded_by: RecordedBy | None = None  # who recorded the milestone, when one caused it


class InterviewDeferred(PlanEvent):
    """An interview request failed one or more gates: every unmet gate is listed."""

    TYPE: ClassVar[str] = "casework.interview.deferred.v1"

    interview_id: Identifier
    requested_by: InterviewRequester
    proposed_at: Timestamp
    location_type: LocationType
    reasons: list[DeferralReason] = Field(min_length=1)


class InterviewCleared(PlanEvent):
    """Every gate passed: on request, or automatically once a deferral's last gate passed."""

    TYPE: ClassVar[str] = "casework.interview.cleared.v1"

    interview_id: Identifier
    requested_by: InterviewRequester
    proposed_at: Timestamp
    location_type: LocationType
    after_deferral: bool  # True: cleared automatically after an InterviewDeferred


class InterpreterRejection(StrEnum):
    """Why an arranged interpreter cannot interpret for this person (rule 3, I3)."""

    RELATIONSHIP_TO_PERSON = "relationship_to_person"
    TIES_TO_TRAFFICKER = "ties_to_trafficker"
    VICTIM_ADVOCATE = "victim_advocate"
    GENDER_PREFERENCE_NOT_RESPECTED = "gender_preference_not_respected"
    LANGUAGE_NOT_SPOKEN = "language_not_spoken"


class InterpreterRejected(PlanEvent):
    """An interpreter arrangement that does not satisfy the interpreter gate."""

    TYPE: ClassVar[str] = "casework.interpreter.rejected.v1"

    language: LanguageTag
    dialect: ShortText | None = None
    mode: ShortText
    reasons: list[InterpreterRejection] = Field(min_length=1)
    recorded_by: RecordedBy | None = None


class HhsNotificationDue(PlanEvent):
    """Reminder, 12 h after a minor's encounter occurred, that HHS must be notified by ``due_at``
    (M1: 24 hours from the encounter's ``occurred_at``; at once when the case came in later)."""

    TYPE: ClassVar[str] = "casework.hhs_notification.due.v1"

    region: Region
    agency_id: Identifier
    due_at: Timestamp


class HhsNotificationOverdue(PlanEvent):
    """24 h passed since a minor's encounter occurred and HHS was not notified (M1): escalate."""

    TYPE: ClassVar[str] = "casework.hhs_notification.overdue.v1"

    region: Region
    agency_id: Identifier
    due_at: Timestamp


STABILIZATION_EVENTS: tuple[type[PlanEvent], ...] = (
    StabilizationProgressed,
    InterviewDeferred,
    InterviewCleared,
    InterpreterRejected,
    HhsNotificationDue,
    HhsNotificationOverdue,
)
