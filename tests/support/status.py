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
from shared.contracts.inbound import CertificationKind, InterviewRequester, LocationType
from shared.contracts.intake import CaseOpened, Screening
from shared.contracts.referrals import (
    CaseUnassigned,
    NotificationScope,
    ReferralAccepted,
    ReferralAssigned,
    ReferralDeclined,
    ReferralEscalated,
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
             escalations: int = 0, agency_id: str = AGENCY, language_match: bool = True) -> ReferralAssigned:
    return ReferralAssigned(**_referral(case_id, agency_id, escalations), referral_id=referral_id,
                            specialist_id=specialist_id, assigned_at=at, ack_due_at=at + timedelta(minutes=15),
                            attempt=attempt, language_match=language_match)


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


def unassigned(case_id: str, *, at: datetime, escalations: int = 0) -> CaseUnassigned:
    return CaseUnassigned(**_referral(case_id, escalations=escalations), unassigned_at=at,
                          reason="no on-duty specialist covers the region")


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
