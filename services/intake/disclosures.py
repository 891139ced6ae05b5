"""Disclosure to a service provider, under the person's consent (P2; docs/design.md, Disclosure).

Intake folds each service request sent on ``services.events`` (collection ``disclosures``,
one aggregate per service request: its case, its provider, what the specialist asked to
share, whether it is still open). A provider presents its request's capability
(:mod:`shared.disclosure`) through the dashboard; intake answers
``GET /internal/v1/disclosures/{service_request_id}`` on its ops port, behind the same
service credential as the identity path, with exactly the fields of the scopes asked for
*and* covered now by a consent for that provider in a written or electronic form
(:func:`shared.consent.covering`). Decided on each read, so a revocation or an expiry
closes the link at once:

* not the dashboard's service credential -> 401
* the capability does not fit the request (or no such request) -> 404, the same either way
* the request was declined or completed, the case closed or withdrawn -> 410 (the link is closed)
* a consent that disclosed an asked scope was revoked or expired, none is to come -> 410
* nothing asked is covered (no consent, only a verbal one, not yet) -> 403
* the case is not known here yet (its opening not folded) -> 503, try again

Only consents recorded by a specialist who accepted the case count: another writer of
``consents.recorded`` is not trusted with a person's consent.
* otherwise -> 200 with the covered scopes' fields, and ``until``: when the first of them ends

Every answer but a 5xx is on ``audit.events`` before it is given (the provider as actor once
the capability fits; the scopes shown, or the refusal's code). The fields go only into the
one response: never into a log line, an error text, an event or another database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared import consent, disclosure
from shared import logging as caselog
from shared.audit import AuditTrail, Disclosure, as_identifier
from shared.consent import Uncovered
from shared.contracts.audit import AuditAction, AuditOutcome, AuditRole
from shared.contracts.inbound import ConsentScope, RecipientKind
from shared.contracts.support import ServiceCompleted, ServiceDeclined, ServiceRequestSent
from shared.credentials import Credential, bearer
from shared.crypto import KeyRing
from shared.kit import Clock, Inbound
from shared.kit.ports import AggregateStore, Loads

from . import consents
from .consents import CaseConsents
from .holders import Holding, recorders
from .identity import NO_STORE, Unanswerable, load, opened_subject, recorded

COLLECTION = "disclosures"
PATH = "/internal/v1/disclosures/{service_request_id:path}"
CAPABILITY = "x-casework-capability"
VIA = "intake_vault"
PROVIDER = RecipientKind.SERVICE_PROVIDER
# The person's fields each scope shows (never the narrative, the scene or who reported it).
IDENTITY_FIELDS = ("given_name", "family_name", "aliases", "date_of_birth", "age_estimate", "gender",
                   "nationality", "languages", "dialect", "interpreter_needed", "interpreter_gender_preference")

log = caselog.get_logger("casework.intake.disclosures")


class Open(StrEnum):
    OPEN = "open"
    DECLINED = "declined"
    COMPLETED = "completed"


class SentRequest(BaseModel):
    """One service request as disclosure needs it: ids and codes only."""

    service_request_id: str
    case_id: str
    provider_id: str
    share: list[str]
    status: Open = Open.OPEN


class Refusal(StrEnum):
    UNAUTHENTICATED = "unauthenticated"  # 401: not the dashboard's service credential
    INVALID_LINK = "invalid_link"  # 404: no such request, or not its capability
    REQUEST_ENDED = "request_ended"  # 410: declined or completed
    CASE_WITHDRAWN = "case_withdrawn"  # 410
    CASE_CLOSED = "case_closed"  # 410 (reopened: open again)
    CONSENT_ENDED = "consent_ended"  # 410: revoked or expired
    NOT_CONSENTED = "not_consented"  # 403: no written or electronic consent (yet) for this provider


STATUS = {Refusal.UNAUTHENTICATED: 401, Refusal.INVALID_LINK: 404, Refusal.REQUEST_ENDED: 410,
          Refusal.CASE_WITHDRAWN: 410, Refusal.CASE_CLOSED: 410, Refusal.CONSENT_ENDED: 410,
          Refusal.NOT_CONSENTED: 403}
DETAIL = {401: "a valid service credential is required", 404: "this disclosure link is not valid",
          410: "this disclosure link is closed",
          403: "nothing is shared through this link: the person has not consented to it"}


def decide(state: SentRequest | None, event: Inbound, now: datetime) -> tuple[SentRequest | None, list[Any]]:
    """Fold one service event; nothing is published (the read model is intake's own)."""
    data = event.data
    if isinstance(data, ServiceRequestSent):
        return state or SentRequest(service_request_id=data.service_request_id, case_id=data.case_id,
                                    provider_id=data.provider_id, share=sorted({s.value for s in data.share})), []
    if state is None:
        return None, []  # an answer to a request not seen (yet): the request opens nothing later
    if isinstance(data, ServiceDeclined):
        return state.model_copy(update={"status": Open.DECLINED}), []
    if isinstance(data, ServiceCompleted):
        return state.model_copy(update={"status": Open.COMPLETED}), []
    return state, []


def judge(request: SentRequest, holding: Holding, file: CaseConsents | None,
          now: datetime) -> tuple[list[ConsentScope], datetime | None, Refusal | None]:
    """The scopes to show now and until when, or why none (the request's capability fits).

    Only consents recorded by a specialist who accepted the case count (:func:`.holders.recorders`).
    """
    if request.status is not Open.OPEN:
        return [], None, Refusal.REQUEST_ENDED
    if holding.withdrawn:
        return [], None, Refusal.CASE_WITHDRAWN
    if holding.closed:
        return [], None, Refusal.CASE_CLOSED
    trusted = _recorded_by(file, recorders(holding))
    asked = [ConsentScope(s) for s in request.share]
    covered = {s: consents.covering(trusted, PROVIDER, request.provider_id, s, now) for s in asked}
    shown = [s for s, c in covered.items() if c is not None]
    if shown:
        return shown, min(c.expires_at for c in covered.values() if c is not None), None
    return [], None, _refusal(trusted, request, asked, now)


def _refusal(file: CaseConsents | None, request: SentRequest, asked: list[ConsentScope],
             now: datetime) -> Refusal:
    """410 only when a consent that did disclose has ended and none is still to come; else 403."""
    reasons = {consent.reason(c, file.revoked, now) for c in file.consents.values()
               if c.recipient_kind == PROVIDER.value and c.recipient_id == request.provider_id
               and c.form in consent.DISCLOSING_FORMS and set(c.scope) & {s.value for s in asked}} if file else set()
    if Uncovered.NOT_YET in reasons or not reasons & {Uncovered.REVOKED, Uncovered.EXPIRED}:
        return Refusal.NOT_CONSENTED
    return Refusal.CONSENT_ENDED


def _recorded_by(file: CaseConsents | None, who: frozenset[str]) -> CaseConsents | None:
    if file is None:
        return None
    return file.model_copy(update={"consents": {k: c for k, c in file.consents.items() if c.recorded_by in who}})


def fields(subject: dict[str, Any], scopes: list[ConsentScope], holding: Holding | None) -> dict[str, Any]:
    """Exactly the consented scopes' fields of the person's sealed subject."""
    person = subject.get("person") or {}
    shown: dict[str, Any] = {}
    if ConsentScope.IDENTITY in scopes:
        shown["identity"] = {k: person[k] for k in IDENTITY_FIELDS if k in person}
    if ConsentScope.CONTACT in scopes:
        shown["contact"] = dict(person.get("contact") or {})
    if ConsentScope.CASE_STATUS in scopes:
        shown["case_status"] = {"open": holding is not None and not holding.closed and not holding.withdrawn,
                                "specialist_assigned": holding is not None and holding.holder is not None}
    return shown


@dataclass(frozen=True)
class DisclosureReads:
    """The endpoint, over intake's folded requests, consents, holders and case files."""

    credential: Credential
    key: bytes
    requests: AggregateStore
    consents: AggregateStore
    holders: Loads  # waits for what the holders workflow received (its gather)
    cases: AggregateStore
    keyring: KeyRing
    audit: AuditTrail
    clock: Clock

    async def answer(self, request: Request) -> Response:
        request_id = as_identifier(request.path_params.get("service_request_id"))
        try:
            if not self.credential.admits(bearer(request.headers.get("authorization"))):
                return await self.refuse(request_id, None, Refusal.UNAUTHENTICATED)
            presented = request.headers.get(CAPABILITY)
            sent: SentRequest | None = await load(self.requests, request_id, SentRequest) if request_id else None
            if sent is None or not disclosure.admits(self.key, presented, sent.service_request_id, sent.provider_id):
                return await self.refuse(request_id, None, Refusal.INVALID_LINK)
            return await self.disclose(sent)
        except Unanswerable as exc:
            log.warning("disclosure not answered", service_request_id=request_id, status=exc.status)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=NO_STORE)

    async def disclose(self, sent: SentRequest) -> Response:
        holding: Holding | None = await load(self.holders, sent.case_id, Holding)
        if holding is None or holding.case_file is None:  # not folded here yet: nothing decided
            raise Unanswerable(503, "the case is not known here yet; try again in a moment")
        file: CaseConsents | None = await load(self.consents, sent.case_id, CaseConsents)
        scopes, until, why = judge(sent, holding, file, self.clock.now())
        if why is not None:
            return await self.refuse(sent.service_request_id, sent, why)
        subject = await opened_subject(self.cases, self.keyring, holding)
        if subject is None:
            return await self.refuse(sent.service_request_id, sent, Refusal.CASE_WITHDRAWN)
        audit_id = await recorded(self.audit, actor_id=sent.provider_id, role=AuditRole.SERVICE_PROVIDER,
                                  case_id=sent.case_id, via=VIA, action=AuditAction.DISCLOSURE_READ,
                                  outcome=AuditOutcome.GRANTED,
                                  disclosure=Disclosure(sent.service_request_id, scopes=scopes))
        log.info("disclosure read", case_id=sent.case_id, service_request_id=sent.service_request_id,
                 provider_id=sent.provider_id, scopes=[s.value for s in scopes], audit_id=audit_id)
        return JSONResponse({"service_request_id": sent.service_request_id, "case_id": sent.case_id,
                             "shared": fields(subject, scopes, holding), "until": until.isoformat() if until else None,
                             "audit_id": audit_id}, headers=NO_STORE)

    async def refuse(self, request_id: str | None, sent: SentRequest | None, why: Refusal) -> Response:
        """A refusal, on record first: the provider as actor once its capability fit."""
        actor, role = (sent.provider_id, AuditRole.SERVICE_PROVIDER) if sent else ("unknown", AuditRole.ANONYMOUS)
        audit_id = await recorded(self.audit, actor_id=actor, role=role, case_id=sent.case_id if sent else None,
                                  via=VIA, action=AuditAction.DISCLOSURE_REFUSED, outcome=AuditOutcome.REFUSED,
                                  disclosure=Disclosure(request_id or "unknown", refusal=why.value))
        status = STATUS[why]
        log.info("disclosure refused", service_request_id=request_id, refusal=why.value, status=status,
                 audit_id=audit_id)
        challenge = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return JSONResponse({"detail": DETAIL[status]}, status_code=status, headers=NO_STORE | challenge)
