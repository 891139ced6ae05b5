"""The stabilization plan, one per case (the aggregate), the policy its gates follow, and the
summary every published event carries.

The plan tolerates any arrival order across topics: a milestone, a referral event or an
interview request may come before ``cases.opened``. Until the case's facts arrive,
``case`` is ``None`` and the gates that need those facts stay unmet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from shared.contracts.common import UrgentNeed
from shared.contracts.inbound import ClosureReason, LocationType
from shared.contracts.stabilization import GateRule, InterviewSummary, PlanSummary
from shared.contracts.status import HhsNotification, InterpreterStatus, InterviewStatus
from shared.settings import StabilizationSettings

HHS_NOTICE = timedelta(hours=24)  # M1: 22 U.S.C. 7105(b)(1)(G), from the encounter
HHS_REMINDER = timedelta(hours=12)
# A closure for these reasons ends the HHS notice too: the report was not a case of its own.
HHS_ENDING_CLOSURES = frozenset({ClosureReason.WITHDRAWN, ClosureReason.DUPLICATE})


class CaseFacts(BaseModel):
    """What ``cases.opened`` (and each ``CaseCorrected``) tells this service; no PII."""

    opened_at: datetime
    region: str
    agency_id: str
    languages: list[str]
    interpreter_needed: bool
    minor: bool  # some report of the encounter showed a minor (kept once shown: see hhs.py)
    occurred_at: datetime | None = None  # None: a plan stored before the HHS clock ran from it

    @property
    def hhs_clock_from(self) -> datetime:
        """The HHS notice counts from the encounter, never from when it was processed (M1)."""
        return self.occurred_at or self.opened_at

    @property
    def hhs_due_at(self) -> datetime:
        return self.hhs_clock_from + HHS_NOTICE

    @property
    def hhs_reminder_at(self) -> datetime:
        return self.hhs_clock_from + HHS_REMINDER


class Arrangement(BaseModel):
    """An interpreter arrangement whose attestations all hold."""

    language: str
    dialect: str | None = None
    mode: str
    recorded_by: dict[str, str] | None = None


class InterviewRequest(BaseModel):
    interview_id: str
    requested_by: dict[str, str]
    proposed_at: datetime
    location_type: LocationType
    status: InterviewStatus = InterviewStatus.NOT_REQUESTED
    reasons: list[GateRule] = Field(default_factory=list)
    deferred_once: bool = False

    def same_request(self, other: InterviewRequest) -> bool:
        keys = {"requested_by", "proposed_at", "location_type"}
        return self.model_dump(include=keys) == other.model_dump(include=keys)


class Plan(BaseModel):
    case_id: str
    case: CaseFacts | None = None
    # Known from referral events even before the case opens here (for notifications).
    region: str | None = None
    agency_id: str | None = None
    referral_id: str | None = None
    specialist_id: str | None = None
    engaged: bool = False  # the current referral was accepted (rule 4)
    language_match: bool | None = None  # False: no assigned specialist speaks the language (rule 3)
    needs: list[UrgentNeed] = Field(default_factory=list)  # from the encounter and assessments
    met: list[UrgentNeed] = Field(default_factory=list)
    needs_assessed: bool = False
    interpreter: Arrangement | None = None
    unvetted: list[Arrangement] = Field(default_factory=list)  # languages not known yet
    rights_explained: bool = False
    hhs_notified: bool = False
    hhs_overdue: bool = False
    interviews: list[InterviewRequest] = Field(default_factory=list)  # the latest last
    revision: int = 0  # the encounter revision the case facts come from
    closed: bool = False  # CaseClosureApplied, until a CaseReopeningApplied
    closure_reason: ClosureReason | None = None
    version: int = 0
    timers: dict[str, datetime] = Field(default_factory=dict)

    @property
    def urgent_needs_open(self) -> list[UrgentNeed]:
        return sorted(set(self.needs) - set(self.met))

    @property
    def interpreter_needed(self) -> bool:
        return bool(self.case and self.case.interpreter_needed) or self.language_match is False

    @property
    def minor(self) -> bool:
        return bool(self.case and self.case.minor)

    @property
    def hhs_owed(self) -> bool:
        """A minor's HHS notice is owed until recorded; a closure does not end it, unless the
        case was withdrawn or closed as a duplicate (docs/design.md, Case life)."""
        ended = self.closed and self.closure_reason in HHS_ENDING_CLOSURES
        return self.minor and not self.hhs_notified and not ended

    def interview(self, interview_id: str) -> InterviewRequest | None:
        return next((i for i in self.interviews if i.interview_id == interview_id), None)


@dataclass(frozen=True)
class Policy:
    """``CASEWORK_MIN_STABILIZATION_HOURS``: time the person gets to stabilize (D6)."""

    min_stabilization_hours: float = 24.0

    @classmethod
    def from_settings(cls, settings: StabilizationSettings) -> Policy:
        return cls(min_stabilization_hours=settings.min_stabilization_hours)

    def stabilization_ends(self, plan: Plan) -> datetime | None:
        if plan.case is None:
            return None
        return plan.case.opened_at + timedelta(hours=self.min_stabilization_hours)


def interpreter_status(plan: Plan) -> InterpreterStatus:
    """As the interpreter gate sees it: needed until the case's facts say otherwise."""
    if plan.interpreter is not None:
        return InterpreterStatus.ARRANGED
    needed = plan.case is None or plan.interpreter_needed
    return InterpreterStatus.NEEDED if needed else InterpreterStatus.NOT_NEEDED


def hhs_status(plan: Plan) -> HhsNotification:
    if plan.hhs_notified:
        return HhsNotification.DONE
    if not plan.hhs_owed:
        return HhsNotification.NOT_REQUIRED
    return HhsNotification.OVERDUE if plan.hhs_overdue else HhsNotification.DUE


def interview_summary(plan: Plan) -> InterviewSummary:
    if not plan.interviews:
        return InterviewSummary()
    latest = plan.interviews[-1]
    return InterviewSummary(interview_id=latest.interview_id, status=latest.status,
                            reasons=list(latest.reasons))


def summarize(plan: Plan) -> PlanSummary:
    return PlanSummary(
        plan_version=max(plan.version, 1), case_opened=plan.case is not None, minor=plan.minor,
        engaged=plan.engaged, needs_assessed=plan.needs_assessed,
        urgent_needs_open=plan.urgent_needs_open, interpreter=interpreter_status(plan),
        rights_explained=plan.rights_explained, hhs_notification=hhs_status(plan),
        hhs_due_at=plan.case.hhs_due_at if plan.case and hhs_status(plan) is not HhsNotification.NOT_REQUIRED else None,
        interview=interview_summary(plan),
    )
