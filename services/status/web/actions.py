"""The dashboard's actions: each publishes the same inbound CloudEvent an integrator would,
with the actor taken from the token (never from the body), and answers ``202`` with the
event's id once the broker has it; the effect follows on ``cases.status``.

``403`` for a token that may not do it — also when the case does not exist, so existence
does not leak; ``422`` naming the field for a bad body, nothing published. Every attempt,
granted or refused, is on ``audit.events`` (the record goes out with the event it audits).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from shared.audit import AuditTrail
from shared.cloudevents import encode, new_event
from shared.contracts.audit import AuditAction, AuditOutcome
from shared.contracts.common import IDENTIFIER_PATTERN, Payload
from shared.contracts.inbound import (
    Actor,
    CaseClosed,
    CaseReopened,
    ConsentRecorded,
    ConsentRevoked,
    RecordedBy,
    ReferralReassigned,
    ReferralResponded,
    ReferralResponseKind,
    ServiceRequested,
    StabilizationRecorded,
)
from shared.kit.outbox import entry

from .. import casefile
from ..access import Principal
from ..identity import IdentityUnavailable
from ..permissions import CaseAction, actor_of, allowed, offered_referral
from ..state import CaseView
from . import bodies
from .auth import require_actor, require_principal

PUBLISHES = (ReferralResponded, StabilizationRecorded, CaseClosed, CaseReopened, ReferralReassigned, ServiceRequested,
             ConsentRecorded, ConsentRevoked)
router = APIRouter(prefix="/api/cases/{case_id}", tags=["actions"])
Acting = Annotated[Principal, Depends(require_actor)]
SOURCE = "casework/dashboard"
VIA = "dashboard_api"
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Published: the broker has the event; the effect follows on cases.status"},
            403: {"description": "This token may not do this on this case (or there is no such case)"},
            422: {"description": "A bad body, nothing published: each wrong field and why"}}
REFUSED = "this token may not do this on this case"

Make = Callable[[CaseView, Actor, Any], Payload]


class BodyInvalid(ValueError):
    """A body that parsed but breaks a rule checked when the event is made (naming its field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field  # the inbound event, from the case, the actor and the body


async def act(request: Request, principal: Principal, case_id: str, action: CaseAction,
              audited: AuditAction, body: type[bodies.Body], make: Make) -> JSONResponse:
    trail: AuditTrail = request.app.state.audit
    publisher = request.app.state.publisher
    actor = actor_of(principal)

    def audit(outcome: AuditOutcome, event_id: str | None = None) -> dict[str, Any]:
        return trail.entry(actor_id=principal.specialist_id or principal.name, role=principal.role, action=audited,
                           outcome=outcome, via=VIA, case_id=case_id, event_id=event_id)[1]

    if actor is None:  # analysts and auditors never act
        await publisher.send([audit(AuditOutcome.REFUSED)])
        raise HTTPException(403, REFUSED)
    try:
        parsed = await bodies.parse(request, body)
    except HTTPException:
        await publisher.send([audit(AuditOutcome.INVALID)])
        raise
    view = await casefile.load(request.app.state.cases, case_id[:128])
    if view is None or action not in allowed(principal, view):
        await publisher.send([audit(AuditOutcome.REFUSED)])
        raise HTTPException(403, REFUSED)
    try:
        payload = make(view, actor, parsed)
    except BodyInvalid as exc:  # a rule of the body that needs the case or the clock
        await publisher.send([audit(AuditOutcome.INVALID)])
        raise HTTPException(422, [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]) from None
    event_id = str(uuid.uuid4())
    event = new_event(payload, event_id=event_id, source=SOURCE, time=request.app.state.clock.now())
    try:
        await publisher.send([entry(event_id, payload.TOPIC, payload.subject, encode(event), None, payload.TYPE),
                              audit(AuditOutcome.GRANTED, event_id)])
    except Exception as exc:  # the broker did not acknowledge: say so, the client may try again
        raise HTTPException(503, "the event could not be published; nothing was done, try again") from exc
    return JSONResponse({"event_id": event_id, "type": payload.TYPE, "topic": payload.TOPIC, "case_id": view.case_id},
                        status_code=202)


def _response(kind: ReferralResponseKind) -> Make:
    def make(view: CaseView, actor: Actor, body: Any) -> Payload:
        referral_id = offered_referral(view, actor.id)
        assert referral_id is not None  # allowed() said this specialist has one to answer
        return ReferralResponded(case_id=view.case_id, referral_id=referral_id, specialist_id=actor.id,
                                 response=kind, reason=getattr(body, "reason", None))
    return make


@router.post("/referral/accept", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.Accept),
             summary="Accept the referral offered to this specialist (referrals.responded)")
async def accept(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    return await act(request, principal, case_id, CaseAction.ACCEPT, AuditAction.REFERRAL_ACCEPTED, bodies.Accept,
                     _response(ReferralResponseKind.ACCEPTED))


@router.post("/referral/decline", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.Decline),
             summary="Decline the referral offered to this specialist, with a reason (referrals.responded)")
async def decline(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    return await act(request, principal, case_id, CaseAction.DECLINE, AuditAction.REFERRAL_DECLINED, bodies.Decline,
                     _response(ReferralResponseKind.DECLINED))


@router.post("/milestones", status_code=202, responses=ACCEPTED,
             openapi_extra=bodies.schema_of(bodies.RecordMilestone),
             summary="Record a stabilization milestone (stabilization.recorded)")
async def milestone(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    def make(view: CaseView, actor: Actor, body: Any) -> Payload:
        return StabilizationRecorded(case_id=view.case_id, recorded_by=RecordedBy(id=actor.id, role=actor.role.value),
                                     milestone=body.milestone)
    return await act(request, principal, case_id, CaseAction.RECORD_MILESTONE, AuditAction.MILESTONE_RECORDED,
                     bodies.RecordMilestone, make)


@router.post("/close", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.Close),
             summary="Close the case (cases.closed): its accepting specialist or a supervisor in scope")
async def close(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    return await act(request, principal, case_id, CaseAction.CLOSE, AuditAction.CASE_CLOSED, bodies.Close,
                     lambda view, actor, body: CaseClosed(case_id=view.case_id, closed_by=actor, reason=body.reason))


@router.post("/reopen", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.Reopen),
             summary="Reopen a closed case (cases.reopened): its last holder or a supervisor in scope")
async def reopen(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    return await act(request, principal, case_id, CaseAction.REOPEN, AuditAction.CASE_REOPENED, bodies.Reopen,
                     lambda view, actor, body: CaseReopened(case_id=view.case_id, reopened_by=actor,
                                                            reason=body.reason))


@router.post("/reassign", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.Reassign),
             summary="Move the case (a supervisor in scope) or hand it over (its holder) (referrals.reassigned)")
async def reassign(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    return await act(request, principal, case_id, CaseAction.REASSIGN, AuditAction.REFERRAL_REASSIGNED,
                     bodies.Reassign,
                     lambda view, actor, body: ReferralReassigned(case_id=view.case_id, requested_by=actor,
                                                                  to_specialist_id=body.to_specialist_id,
                                                                  reason=body.reason))


@router.post("/services", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.RequestService),
             summary="Ask a provider from the directory for a support service (services.requested): the "
                     "specialist who accepted the case; never conditioned on consent")
async def request_service(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    def make(view: CaseView, actor: Actor, body: Any) -> Payload:
        return ServiceRequested(case_id=view.case_id, service_request_id=f"sr-{uuid.uuid4()}",
                                provider_id=body.provider_id, need=body.need, requested_by=actor,
                                share=list(body.share))
    return await act(request, principal, case_id, CaseAction.REQUEST_SERVICE, AuditAction.SERVICE_REQUESTED,
                     bodies.RequestService, make)


@router.post("/consents", status_code=202, responses=ACCEPTED, openapi_extra=bodies.schema_of(bodies.RecordConsent),
             summary="Record the person's consent to let one recipient see some of what the vault holds "
                     "(consents.recorded): the specialist who accepted the case; a year at most")
async def record_consent(request: Request, principal: Acting, case_id: str) -> JSONResponse:
    now = request.app.state.clock.now()

    def make(view: CaseView, actor: Actor, body: Any) -> Payload:
        try:
            given, expires = body.window(now)
        except ValueError as exc:
            raise BodyInvalid("expires_at", str(exc)) from None
        return ConsentRecorded(case_id=view.case_id, consent_id=f"cs-{uuid.uuid4()}", recorded_by=actor,
                               scope=list(body.scope), recipient=body.recipient, form=body.form, given_at=given,
                               expires_at=expires)
    return await act(request, principal, case_id, CaseAction.RECORD_CONSENT, AuditAction.CONSENT_RECORDED,
                     bodies.RecordConsent, make)


@router.post("/consents/{consent_id}/revoke", status_code=202, responses=ACCEPTED,
             openapi_extra=bodies.schema_of(bodies.RevokeConsent),
             summary="Revoke a consent (consents.revoked): every disclosure under it ends at once")
async def revoke_consent(request: Request, principal: Acting, case_id: str,
                         consent_id: Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128)]) -> JSONResponse:
    now = request.app.state.clock.now()
    return await act(request, principal, case_id, CaseAction.RECORD_CONSENT, AuditAction.CONSENT_REVOKED,
                     bodies.RevokeConsent,
                     lambda view, actor, body: ConsentRevoked(case_id=view.case_id, consent_id=consent_id,
                                                              revoked_by=actor, at=now))


@router.get("/person", summary="The person's identity and contact, for the specialist who accepted the open case",
            responses={200: {"description": "The identity from intake's vault (this read is on audit.events)"},
                       403: {"description": "Not this token's to read (or there is no such case)"},
                       503: {"description": "The vault could not answer or record the read: nothing shown"}})
async def person(request: Request, principal: Annotated[Principal, Depends(require_principal)],
                 case_id: str) -> JSONResponse:
    """Intake decides from its own read model of referrals, records the read, then answers; the
    identity passes through here untouched and is never kept, logged or cached."""
    try:
        read = await request.app.state.identity.read(case_id[:128], principal.specialist_id or principal.name,
                                                     principal.role.value, via=VIA)
    except IdentityUnavailable as exc:
        raise HTTPException(503, "the identity cannot be read now; try again") from exc
    if read is None:
        raise HTTPException(403, "this token may not read this case's identity")
    return JSONResponse(read, headers={"Cache-Control": "no-store"})
