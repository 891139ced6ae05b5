"""The status projection, pure: ``fold(view, event) -> view`` and the snapshot it publishes.

Version. ``version`` counts the snapshot-bearing events folded into the case (each one
at most once: the kit drops a redelivered event id before ``decide``). Every source only
writes its own part of the view, so the view, and this count, depend on *which* events
were folded and not on how the topics interleaved; ``updated_at`` is the latest of their
times. A rebuild that replays the topics in another interleaving therefore publishes the
very same snapshots, field for field. The price: a bearing event that changes nothing
visible (a plan step shown nowhere on the snapshot) still republishes it under the next
version; consumers keep the highest version, so that is harmless.

An event for a case whose ``cases.opened`` has not arrived yet is folded and counted, and
nothing is published until the case opens (the snapshot needs its fields).

The case view (the aggregate) is in :mod:`.state`; how each source's events change their
part of it, this service's rules, in :mod:`.sources`. The projection has no policy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import consent
from shared.contracts.certifications import CertificationExpiring, CertificationFacts
from shared.contracts.consents import ConsentLapsed
from shared.contracts.inbound import ClosureReason, ConsentRecorded, ConsentRevoked, ProviderKind
from shared.contracts.intake import CaseCorrected, CaseOpened, Screening
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseNeedsHolder,
    CaseReopeningApplied,
    CaseUnassigned,
    HolderKept,
    ReferralAccepted,
    ReferralAssigned,
    ReferralEscalated,
    ReferralReleased,
)
from shared.contracts.stabilization import PlanEvent
from shared.contracts.status import (
    CaseStatus,
    Closure,
    ContinuedPresenceView,
    HhsNotification,
    InterpreterStatus,
    InterviewStatus,
    InterviewView,
    Reassignment,
    ReferralStatus,
    ReferralView,
    ServiceStatus,
    ServiceView,
    StabilizationView,
    Stage,
)
from shared.contracts.support import ServiceEvent
from shared.kit import Inbound

from . import sources, timeline
from .state import CaseView, Correction, Opened

REFERRAL_BEARING = (ReferralAssigned, ReferralAccepted, ReferralEscalated, CaseUnassigned, CaseClosureApplied,
                    CaseReopeningApplied, ReferralReleased, HolderKept, CaseNeedsHolder)


def bears_on_snapshot(data: Any) -> bool:
    """Events that may change the snapshot; the others only add a timeline line."""
    if isinstance(data, CertificationFacts):
        return not isinstance(data, CertificationExpiring) and sources.is_continued_presence(data)
    # A consent shows nowhere on the snapshot; it bears on it so that the case page, which
    # follows the snapshots, shows it at once (a new version of the same content is harmless),
    # and so does its lapse (the page shows it expired); a reminder is a timeline line only.
    return isinstance(data, (CaseOpened, CaseCorrected, PlanEvent, *REFERRAL_BEARING, *sources.SERVICE_STATUS,
                             ConsentRecorded, ConsentRevoked, ConsentLapsed))


def fold(view: CaseView, event: Inbound, now: datetime) -> CaseView:
    """The view after one event (T and U events never get here: dropped on arrival, P1)."""
    data = event.data
    update: dict[str, Any] = {"timeline": timeline.add(view.timeline, timeline.moment(event, now))}
    if isinstance(data, CaseOpened):
        update["opened"] = view.opened or sources.opened(data)
    elif isinstance(data, CaseCorrected):
        update["correction"] = sources.correction(view.correction, data)
    elif isinstance(data, PlanEvent):
        update["plan"] = sources.plan(view.plan, data)
    elif isinstance(data, CertificationFacts) and sources.is_continued_presence(data):
        update["continued_presence"] = sources.continued_presence(view.continued_presence, data)
    elif isinstance(data, ConsentRecorded | ConsentRevoked):
        update["consents"], update["revoked_consents"] = consent.fold(view.consents, view.revoked_consents, data)
    elif isinstance(data, ServiceEvent) and type(data) in sources.SERVICE_STATUS:
        update["services"] = sources.service(view.services, data, timeline.occurred(event, now))
    elif isinstance(data, REFERRAL_BEARING):
        update["referral"] = sources.referral(view.referral, data)
        update["life"] = sources.life(view.life, data, view.referral)
    if bears_on_snapshot(data):
        at = timeline.occurred(event, now)
        update["version"] = view.version + 1
        update["updated_at"] = max(view.updated_at, at) if view.updated_at else at
    return view.model_copy(update=update)


def decide(state: CaseView | None, event: Inbound, now: datetime) -> tuple[CaseView, list[CaseStatus]]:
    """Fold the event; publish the whole snapshot when it counts and the case has opened."""
    before = state or CaseView(case_id=event.data.case_id)
    after = fold(before, event, now)
    if after.version == before.version or after.opened is None:
        return after, []
    return after, [snapshot(after)]


def stage(view: CaseView) -> Stage:
    """Closed while closed; else referral until a specialist accepts; engaged; stabilizing once
    the plan moves; cleared. A reopened case is staged from its current state again."""
    if view.life.closed_at is not None:
        return Stage.CLOSED
    plan = view.plan
    if plan and plan.interview_status == InterviewStatus.CLEARED:
        return Stage.INTERVIEW_CLEARED
    if view.referral.status != ReferralStatus.ACCEPTED:
        return Stage.REFERRAL
    if plan and (plan.needs_assessed or plan.rights_explained or plan.interpreter == InterpreterStatus.ARRANGED
                 or plan.hhs_notification == HhsNotification.DONE
                 or plan.interview_status != InterviewStatus.NOT_REQUESTED):
        return Stage.STABILIZING
    return Stage.ENGAGED


def interpreter(view: CaseView) -> InterpreterStatus:
    """The plan's word once there is one; before, the encounter's and the referral's (rule 3)."""
    if view.plan is not None:
        return view.plan.interpreter
    facts = encounter(view)
    needed = (facts and facts.interpreter_needed) or view.referral.language_match is False
    return InterpreterStatus.NEEDED if needed else InterpreterStatus.NOT_NEEDED


def encounter(view: CaseView) -> Opened | Correction | None:
    """What the encounter says now: the highest correction over the first report."""
    correction, opened = view.correction, view.opened
    if correction is not None and (opened is None or correction.revision > opened.revision):
        return correction
    return opened


def stabilization(view: CaseView) -> StabilizationView:
    plan, opened = view.plan, encounter(view)
    if plan is None:  # before the first plan summary: what the encounter said (M1 for minors)
        hhs = HhsNotification.DUE if opened and opened.minor else HhsNotification.NOT_REQUIRED
        return StabilizationView(urgent_needs_open=list(opened.urgent_needs) if opened else [],
                                 hhs_notification=hhs)
    return StabilizationView(
        needs_assessed=plan.needs_assessed, urgent_needs_open=list(plan.urgent_needs_open),
        hhs_notification=plan.hhs_notification,
        interview=InterviewView(interview_id=plan.interview_id, status=plan.interview_status,
                                reasons=list(plan.interview_reasons)))


def closure(view: CaseView) -> Closure | None:
    life = view.life
    if life.closed_at is None or life.closure_reason is None:
        return None
    return Closure(at=life.closed_at, reason=ClosureReason(life.closure_reason))


def snapshot(view: CaseView) -> CaseStatus:
    opened, referral, cp, life = view.opened, view.referral, view.continued_presence, view.life
    facts = encounter(view)
    assert opened is not None and facts is not None and view.updated_at is not None, "a snapshot needs cases.opened"
    closed = life.closed_at is not None
    return CaseStatus(
        case_id=view.case_id, encounter_id=opened.encounter_id, version=view.version,
        agency_id=opened.agency_id, region=opened.region, opened_at=opened.opened_at,
        updated_at=view.updated_at, priority=facts.priority, minor=facts.minor, stage=stage(view),
        screening=Screening(categories=dict(facts.categories), indicator_count=facts.indicator_count),
        languages=list(facts.languages), interpreter=interpreter(view),
        referral=ReferralView(
            referral_id=referral.referral_id, specialist_id=referral.specialist_id, status=referral.status,
            assigned_at=referral.assigned_at, accepted_at=referral.accepted_at,
            ack_due_at=referral.ack_due_at, escalations=referral.escalations,
            handover_to=referral.handover_to, needs_holder=referral.needs_holder and not closed,
            unassigned_alerts=referral.unassigned_alerts if referral.status == ReferralStatus.UNASSIGNED else 0),
        stabilization=stabilization(view),
        continued_presence=ContinuedPresenceView(status=cp.status, valid_until=cp.valid_until),
        closure=closure(view),
        reopen_count=life.reopen_count,
        reassignments=[Reassignment.model_validate(m.model_dump(), strict=False) for m in life.reassignments],
        revision=facts.revision if isinstance(facts, Correction) else opened.revision,
        services=[ServiceView(service_request_id=line.service_request_id, need=ProviderKind(line.need),
                              status=ServiceStatus(line.status))
                  for line in sorted(view.services.values(), key=lambda s: (s.requested_at, s.service_request_id))],
    )
