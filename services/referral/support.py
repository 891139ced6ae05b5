"""A case's requests for support services, pure (docs/design.md, Support services).

The specialist who accepted a case asks a provider from the directory for a service — a
shelter, medical care, legal help … (``services.requested``); the request is checked and
sent on (``ServiceRequestSent``: notify tells the provider at once), or refused with the
reason. The provider answers (``services.responded``): accepted, declined (the specialist
is told, with the next matching provider not yet asked), completed. A request the provider
leaves unanswered past ``respond_within`` is escalated to the specialist, once.

Nothing here reads a consent: whether a request goes out never depends on one (P2);
consent only gates what the provider may see, on intake's identity path.

``decide`` is pure: what it must know of the case (from the referral aggregate) and of the
providers (the directory) is read before the batch and handed in as a :class:`Context`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from shared.contracts.common import Payload
from shared.contracts.inbound import ActorRole, ProviderKind, ServiceRequested, ServiceResponded, ServiceResponse
from shared.contracts.support import (
    RequestRefusal,
    ResponseRefusal,
    ServiceAccepted,
    ServiceCompleted,
    ServiceDeclined,
    ServiceRequestRefused,
    ServiceRequestSent,
    ServiceResponseRefused,
    ServiceUnanswered,
)
from shared.kit import Inbound, TimerFired
from shared.languages import primary_language
from shared.regions import covers

RESPOND = "respond:"  # timer: the provider's answer is due (one per open request)
Status = Literal["requested", "accepted", "declined", "completed", "unanswered"]
ENDED: frozenset[Status] = frozenset({"declined", "completed"})


class ServiceRequest(BaseModel):
    service_request_id: str
    provider_id: str
    need: ProviderKind
    specialist_id: str
    status: Status = "requested"
    requested_at: datetime
    respond_by: datetime
    answered_at: datetime | None = None


class CaseServices(BaseModel):
    """One case's service requests (the aggregate, keyed by case id)."""

    case_id: str
    agency_id: str = ""
    region: str = ""
    requests: dict[str, ServiceRequest] = {}
    timers: dict[str, datetime] = {}


@dataclass(frozen=True)
class CaseFacts:
    """What a request needs to know of its case, from the referral aggregate."""

    agency_id: str
    region: str
    languages: tuple[str, ...]
    holder: str | None  # who accepted the current referral
    closed: bool


@dataclass(frozen=True)
class Provider:
    provider_id: str
    kinds: frozenset[str]
    regions: tuple[str, ...]
    languages: frozenset[str]  # primary subtags
    accepting: bool

    def serves(self, need: str, region: str) -> bool:
        return self.accepting and need in self.kinds and covers(self.regions, region)


@dataclass(frozen=True)
class Context:
    cases: Mapping[str, CaseFacts] = field(default_factory=dict)
    providers: Mapping[str, Provider] = field(default_factory=dict)


Result = tuple[CaseServices | None, list[Payload]]


def decide(state: CaseServices | None, event: Inbound, now: datetime, *, context: Context,
           respond_within: timedelta) -> Result:
    data = event.data
    if isinstance(data, ServiceRequested):
        return request(state, data, event.id, now, context, respond_within)
    if isinstance(data, ServiceResponded):
        return respond(state, data, event.id, now, context)
    if isinstance(data, TimerFired) and state is not None and data.name.startswith(RESPOND):
        return lapse(state, data.name.removeprefix(RESPOND), now, context)
    return state, []


def request(state: CaseServices | None, req: ServiceRequested, event_id: str, now: datetime, context: Context,
            respond_within: timedelta) -> Result:
    facts = context.cases.get(req.case_id)
    refusal = refusal_of(state, req, facts, context.providers.get(req.provider_id))
    if refusal is not None or facts is None:
        return state, [ServiceRequestRefused(
            case_id=req.case_id, service_request_id=req.service_request_id, provider_id=req.provider_id,
            need=req.need, requested_by=req.requested_by, refusal=refusal or RequestRefusal.UNKNOWN_CASE,
            request_event_id=event_id, refused_at=now)]
    file = (state or CaseServices(case_id=req.case_id)).model_copy(
        update={"agency_id": facts.agency_id, "region": facts.region})
    sent = ServiceRequest(service_request_id=req.service_request_id, provider_id=req.provider_id, need=req.need,
                          specialist_id=req.requested_by.id, requested_at=now, respond_by=now + respond_within)
    file = file.model_copy(update={
        "requests": {**file.requests, sent.service_request_id: sent},
        "timers": {**file.timers, RESPOND + sent.service_request_id: sent.respond_by}})
    return file, [ServiceRequestSent(**common(file, sent), requested_by=req.requested_by, requested_at=now,
                                     respond_by=sent.respond_by, languages=list(facts.languages),
                                     share=sorted(set(req.share)))]


def refusal_of(state: CaseServices | None, req: ServiceRequested, facts: CaseFacts | None,
               provider: Provider | None) -> RequestRefusal | None:
    """Why this request is not sent on, the first reason that applies; None: it goes out."""
    if state is not None and req.service_request_id in state.requests:
        return RequestRefusal.ALREADY_REQUESTED
    if facts is None:
        return RequestRefusal.UNKNOWN_CASE
    if facts.closed:
        return RequestRefusal.CASE_CLOSED
    if req.requested_by.role != ActorRole.VICTIM_SPECIALIST or req.requested_by.id != facts.holder:
        return RequestRefusal.NOT_HOLDER
    if provider is None:
        return RequestRefusal.UNKNOWN_PROVIDER
    if req.need.value not in provider.kinds:
        return RequestRefusal.NOT_OFFERED
    if not provider.accepting:
        return RequestRefusal.NOT_ACCEPTING
    return None


def respond(state: CaseServices | None, answer: ServiceResponded, event_id: str, now: datetime,
            context: Context) -> Result:
    sent = state.requests.get(answer.service_request_id) if state is not None else None
    refusal = (ResponseRefusal.UNKNOWN_REQUEST if sent is None
               else ResponseRefusal.WRONG_PROVIDER if sent.provider_id != answer.provider_id
               else ResponseRefusal.ALREADY_ENDED if sent.status in ENDED
               else None)
    if refusal is not None or state is None or sent is None:
        return state, [ServiceResponseRefused(
            case_id=answer.case_id, service_request_id=answer.service_request_id, provider_id=answer.provider_id,
            refusal=refusal or ResponseRefusal.UNKNOWN_REQUEST, request_event_id=event_id, refused_at=now)]
    if answer.response is ServiceResponse.ACCEPTED:
        if sent.status == "accepted":
            return state, []  # said again: nothing changes
        file, now_sent = answered(state, sent, "accepted", now)
        return file, [ServiceAccepted(**common(file, now_sent), accepted_at=now)]
    if answer.response is ServiceResponse.DECLINED:
        file, now_sent = answered(state, sent, "declined", now)
        return file, [ServiceDeclined(**common(file, now_sent), declined_at=now, reason=answer.reason,
                                      next_provider_id=next_provider(file, sent.need, context))]
    file, now_sent = answered(state, sent, "completed", now)
    return file, [ServiceCompleted(**common(file, now_sent), completed_at=now)]


def lapse(state: CaseServices, request_id: str, now: datetime, context: Context) -> Result:
    """The provider's answer came due: an unanswered request is escalated to the specialist, once."""
    timers = {k: v for k, v in state.timers.items() if k != RESPOND + request_id}
    sent = state.requests.get(request_id)
    file = state.model_copy(update={"timers": timers})
    if sent is None or sent.status != "requested":
        return file, []
    late = sent.model_copy(update={"status": "unanswered"})
    file = file.model_copy(update={"requests": {**file.requests, request_id: late}})
    return file, [ServiceUnanswered(**common(file, late), respond_by=sent.respond_by, escalated_at=now,
                                    next_provider_id=next_provider(file, sent.need, context))]


def answered(state: CaseServices, sent: ServiceRequest, status: Status,
             now: datetime) -> tuple[CaseServices, ServiceRequest]:
    changed = sent.model_copy(update={"status": status, "answered_at": now})
    timers = {k: v for k, v in state.timers.items() if k != RESPOND + sent.service_request_id}
    return state.model_copy(update={"requests": {**state.requests, sent.service_request_id: changed},
                                    "timers": timers}), changed


def next_provider(file: CaseServices, need: ProviderKind, context: Context) -> str | None:
    """The next provider to offer the specialist for this need: serving the case's region and
    accepting, not asked for this need in this case yet; one who speaks the person's language
    first, then by id (the same answer for the same directory)."""
    asked = {r.provider_id for r in file.requests.values() if r.need == need}
    facts = context.cases.get(file.case_id)
    spoken = {primary_language(t) for t in (facts.languages if facts else ())}
    region = facts.region if facts else file.region
    candidates = [p for p in context.providers.values()
                  if p.provider_id not in asked and p.serves(need.value, region)]
    ranked = sorted(candidates, key=lambda p: (spoken.isdisjoint(p.languages), p.provider_id))
    return ranked[0].provider_id if ranked else None


def common(file: CaseServices, sent: ServiceRequest) -> dict[str, Any]:
    return {"case_id": file.case_id, "agency_id": file.agency_id, "region": file.region,
            "service_request_id": sent.service_request_id, "provider_id": sent.provider_id, "need": sent.need,
            "specialist_id": sent.specialist_id}


def provider_of(doc: Mapping[str, object]) -> Provider:
    """A directory document (``shared.registry``) as requests see it."""
    def strings(name: str) -> Iterable[str]:
        value = doc.get(name) or ()
        return [str(v) for v in value] if isinstance(value, list | tuple) else ()
    return Provider(provider_id=str(doc["_id"]), kinds=frozenset(strings("kinds")), regions=tuple(strings("regions")),
                    languages=frozenset(primary_language(t) for t in strings("languages")),
                    accepting=bool(doc.get("accepting", True)))
