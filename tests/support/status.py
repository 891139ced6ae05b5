"""Events the status service folds, built from the real contracts (valid by construction).

``inbound(payload)`` gives the kit's ``Inbound`` for unit tests; ``cloudevent(payload)``
the JSON a producer puts on the topic, for tests on the real broker.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from casework.readiness import wait_ready
from shared.cloudevents import encode, new_event
from shared.contracts.certifications import CertificationStatus, CertificationStatusChanged
from shared.contracts.common import AgencyLevel, Payload, Priority, UrgentNeed
from shared.contracts.inbound import (
    Actor,
    ActorRole,
    CertificationKind,
    ClosureReason,
    ConsentForm,
    ConsentRecipient,
    ConsentRecorded,
    ConsentRevoked,
    ConsentScope,
    InterviewRequester,
    LocationType,
    ReassignmentReason,
    RecipientKind,
    ReopenReason,
    WithdrawalReason,
)
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn, Screening
from shared.contracts.referrals import (
    CaseActionKind,
    CaseActionRejected,
    CaseActionRejection,
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    NotificationScope,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
    ReferralReleased,
    ReleaseReason,
)
from shared.contracts.stabilization import (
    InterviewCleared,
    InterviewSummary,
    PlanChange,
    PlanSummary,
    StabilizationProgressed,
)
from shared.contracts.status import HhsNotification, InterpreterStatus, InterviewStatus
from shared.kit import Inbound

T0 = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
AGENCY = "TX-DPS"


def case_opened(case_id: str, *, at: datetime = T0, agency_id: str = AGENCY, minor: bool = False,
                priority: Priority = Priority.HIGH, interpreter_needed: bool = True,
                encounter_id: str | None = None) -> CaseOpened:
    return CaseOpened(
        case_id=case_id, encounter_id=encounter_id or f"ENC-{case_id}", agency_id=agency_id,
        agency_level=AgencyLevel.STATE, officer_id="officer-17", region="US-TX", occurred_at=at - timedelta(minutes=15),
        opened_at=at, languages=["es"], dialect=None, interpreter_needed=interpreter_needed,
        urgent_needs=[UrgentNeed.SHELTER], priority=priority, minor=minor,
        screening=Screening(categories={"control": 1, "labor": 1}, indicator_count=2))


def _referral(case_id: str, agency_id: str = AGENCY, escalations: int = 0) -> dict[str, Any]:
    return {"case_id": case_id, "agency_id": agency_id, "region": "US-TX", "priority": Priority.HIGH,
            "escalations": escalations}


def assigned(case_id: str, referral_id: str, specialist_id: str, *, at: datetime, attempt: int = 1,
             escalations: int = 0, agency_id: str = AGENCY, language_match: bool = True,
             reassigned_by: Actor | None = None, reason: ReassignmentReason | None = None,
             handover_from: str | None = None) -> ReferralAssigned:
    return ReferralAssigned(**_referral(case_id, agency_id, escalations), referral_id=referral_id,
                            specialist_id=specialist_id, assigned_at=at, ack_due_at=at + timedelta(minutes=15),
                            attempt=attempt, language_match=language_match, reassigned_by=reassigned_by,
                            reassignment_reason=reason, handover_from=handover_from)


def supervisor(actor_id: str = "sup-1") -> Actor:
    return Actor(id=actor_id, role=ActorRole.SUPERVISOR)


def specialist(actor_id: str) -> Actor:
    return Actor(id=actor_id, role=ActorRole.VICTIM_SPECIALIST)


def closed(case_id: str, *, at: datetime, by: Actor | None, reason: ClosureReason = ClosureReason.SERVICES_COMPLETED,
           released: str | None = None, referral_id: str | None = None, escalations: int = 0) -> CaseClosureApplied:
    return CaseClosureApplied(**_referral(case_id, escalations=escalations), closed_at=at, closed_by=by,
                              reason=reason, referral_id=referral_id, released_specialist_id=released,
                              request_event_id=f"req-close-{case_id}-{at.timestamp():.0f}")


def reopened(case_id: str, *, at: datetime, by: Actor, count: int = 1, previous: str | None = None,
             reason: ReopenReason = ReopenReason.RE_ENGAGED) -> CaseReopeningApplied:
    return CaseReopeningApplied(**_referral(case_id), reopened_at=at, reopened_by=by, reason=reason,
                                reopen_count=count, previous_specialist_id=previous,
                                request_event_id=f"req-reopen-{case_id}-{count}")


def released(case_id: str, referral_id: str, specialist_id: str, *, at: datetime,
             reason: ReleaseReason = ReleaseReason.SPECIALIST_DEPARTED) -> ReferralReleased:
    return ReferralReleased(**_referral(case_id), referral_id=referral_id, specialist_id=specialist_id,
                            released_at=at, reason=reason)


def holder_kept(case_id: str, referral_id: str, specialist_id: str, *, assigned_at: datetime,
                accepted_at: datetime, declined_referral_id: str, at: datetime) -> HolderKept:
    return HolderKept(**_referral(case_id), referral_id=referral_id, specialist_id=specialist_id,
                      assigned_at=assigned_at, accepted_at=accepted_at, ack_due_at=assigned_at + timedelta(minutes=15),
                      declined_referral_id=declined_referral_id, kept_at=at)


def needs_holder(case_id: str, referral_id: str, specialist_id: str, *, at: datetime,
                 scope: NotificationScope = NotificationScope.REGION) -> CaseNeedsHolder:
    return CaseNeedsHolder(**_referral(case_id), referral_id=referral_id, specialist_id=specialist_id,
                           flagged_at=at, scope=scope)


def action_rejected(case_id: str, *, at: datetime, actor: Actor,
                    rejection: CaseActionRejection = CaseActionRejection.NOT_ENTITLED,
                    action: CaseActionKind = CaseActionKind.CLOSE) -> CaseActionRejected:
    return CaseActionRejected(case_id=case_id, action=action, actor=actor, rejection=rejection,
                              request_event_id=f"req-{case_id}", rejected_at=at, agency_id=AGENCY, region="US-TX")


def corrected(case_id: str, revision: int, *, at: datetime, minor: bool = True,
              priority: Priority = Priority.URGENT, languages: tuple[str, ...] = ("es", "en"),
              interpreter_needed: bool = False) -> CaseCorrected:
    return CaseCorrected(
        case_id=case_id, encounter_id=f"ENC-{case_id}", agency_id=AGENCY, revision=revision, region="US-TX",
        occurred_at=T0 - timedelta(minutes=15), corrected_at=at, languages=list(languages), dialect=None,
        interpreter_needed=interpreter_needed, urgent_needs=[UrgentNeed.SHELTER, UrgentNeed.MEDICAL],
        priority=priority, minor=minor, minor_revealed=minor,
        screening=Screening(categories={"control": 2, "labor": 1, "minor": 1}, indicator_count=4))


def withdrawn(case_id: str, *, at: datetime) -> CaseWithdrawn:
    return CaseWithdrawn(case_id=case_id, encounter_id=f"ENC-{case_id}", agency_id=AGENCY,
                         reason=WithdrawalReason.ENTERED_IN_ERROR, withdrawn_at=at)


def accepted(case_id: str, referral_id: str, specialist_id: str, *, assigned_at: datetime, at: datetime,
             escalations: int = 0, agency_id: str = AGENCY) -> ReferralAccepted:
    return ReferralAccepted(**_referral(case_id, agency_id, escalations), referral_id=referral_id,
                            specialist_id=specialist_id, assigned_at=assigned_at, accepted_at=at,
                            ack_due_at=assigned_at + timedelta(minutes=15))


def declined(case_id: str, referral_id: str, specialist_id: str, *, at: datetime,
             reason: str | None = None) -> ReferralDeclined:
    return ReferralDeclined(**_referral(case_id), referral_id=referral_id, specialist_id=specialist_id,
                            declined_at=at, reason=reason)


def escalated(case_id: str, referral_id: str, specialist_id: str, *, assigned_at: datetime,
              escalations: int = 1) -> ReferralEscalated:
    due = assigned_at + timedelta(minutes=15)
    return ReferralEscalated(**_referral(case_id, escalations=escalations), referral_id=referral_id,
                             specialist_id=specialist_id, assigned_at=assigned_at, ack_due_at=due,
                             escalated_at=due, scope=NotificationScope.REGION)


def unassigned(case_id: str, *, at: datetime, escalations: int = 0, alert: int = 1,
               scope: NotificationScope = NotificationScope.REGION) -> CaseUnassigned:
    return CaseUnassigned(**_referral(case_id, escalations=escalations), unassigned_at=at,
                          reason="no on-duty specialist covers the region", alert=alert, scope=scope)


def plan(version: int, *, engaged: bool = False, needs_assessed: bool = False,
         urgent_needs_open: tuple[str, ...] = ("shelter",), interpreter: InterpreterStatus = InterpreterStatus.NEEDED,
         hhs: HhsNotification = HhsNotification.NOT_REQUIRED,
         interview: InterviewSummary | None = None) -> PlanSummary:
    return PlanSummary(plan_version=version, case_opened=True, minor=False, engaged=engaged,
                       needs_assessed=needs_assessed, urgent_needs_open=[UrgentNeed(n) for n in urgent_needs_open],
                       interpreter=interpreter, rights_explained=False, hhs_notification=hhs,
                       interview=interview or InterviewSummary())


def progressed(case_id: str, summary: PlanSummary,
               change: PlanChange = PlanChange.NEEDS_ASSESSED) -> StabilizationProgressed:
    return StabilizationProgressed(case_id=case_id, region="US-TX", agency_id=AGENCY, plan=summary, change=change)


def interview_cleared(case_id: str, summary: PlanSummary, interview_id: str = "int-1") -> InterviewCleared:
    summary = summary.model_copy(update={"interview": InterviewSummary(interview_id=interview_id,
                                                                       status=InterviewStatus.CLEARED)})
    return InterviewCleared(case_id=case_id, region="US-TX", agency_id=AGENCY, plan=summary,
                            interview_id=interview_id,
                            requested_by=InterviewRequester(officer_id="officer-17", agency_id=AGENCY),
                            proposed_at=T0 + timedelta(days=2), location_type=LocationType.NEUTRAL,
                            after_deferral=False)


def certification(case_id: str, certification_id: str, kind: CertificationKind, status: CertificationStatus,
                  *, at: datetime, valid_until: datetime | None = None) -> CertificationStatusChanged:
    return CertificationStatusChanged(case_id=case_id, certification_id=certification_id, kind=kind,
                                      agency_id=AGENCY, status=status, valid_until=valid_until, at=at)


def consent_recorded(case_id: str, consent_id: str, provider_id: str = "pr-tx-safe-harbor", *, at: datetime = T0,
                     days: int = 90, by: str = "sp-1") -> ConsentRecorded:
    """The holder records the person's written consent to let a provider see their identity."""
    return ConsentRecorded(case_id=case_id, consent_id=consent_id, recorded_by=specialist(by),
                           scope=[ConsentScope.IDENTITY], form=ConsentForm.WRITTEN, given_at=at,
                           recipient=ConsentRecipient(kind=RecipientKind.SERVICE_PROVIDER, id=provider_id),
                           expires_at=at + timedelta(days=days))


def consent_revoked(case_id: str, consent_id: str, *, at: datetime, by: str = "sp-1") -> ConsentRevoked:
    return ConsentRevoked(case_id=case_id, consent_id=consent_id, revoked_by=specialist(by), at=at)


def inbound(payload: Payload, *, at: datetime | None = None, event_id: str | None = None) -> Inbound:
    return Inbound(id=event_id or str(uuid.uuid4()), type=payload.TYPE, data=payload, subject=payload.subject,
                   source="casework/test", time=at, topic=payload.TOPIC)


def cloudevent(payload: Payload, *, at: datetime | None = None, event_id: str | None = None) -> dict[str, Any]:
    """The event as its producer would publish it (``at``: the CloudEvent ``time``)."""
    event = new_event(payload, event_id=event_id or str(uuid.uuid4()), source="casework/test", time=at or T0)
    return json.loads(encode(event))


def snapshots(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """``cases.status`` records by case id, each case's snapshots in topic order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.value:
            event = json.loads(record.value)
            out.setdefault(event["data"]["case_id"], []).append(event)
    return out


async def ready(port: int, within: float = 60.0) -> None:
    """Wait for the dashboard's /readyz (service started and board caught up)."""
    if not await wait_ready(port, within=within):
        raise AssertionError(f"status dashboard on {port} not ready within {within}s")
