"""What the referral service publishes on ``services.events``: a case's requests for support
services (shelter, medical, legal, …) and what became of each (docs/design.md, Support services).

A specialist asks a provider (``services.requested``); the referral service checks the
request and sends it on; the provider answers (``services.responded``):

* ``ServiceRequestSent``        -> the provider is to be notified at once (notify mails it);
  it must answer by ``respond_by``
* ``ServiceRequestRefused``     -> no change: a request not sent on, and why
* ``ServiceAccepted``           -> the service is under way
* ``ServiceDeclined``           -> the specialist is told, with the next matching provider
* ``ServiceCompleted``          -> done; for an urgent-need kind the need is met
* ``ServiceUnanswered``         -> the provider let ``respond_by`` pass: the specialist is told
* ``ServiceResponseRefused``    -> no change: a response that was not applied, and why

Every event names the case, its agency and region, the request, the provider and the need,
and the specialist to tell. No field identifies the person (P2): ids, codes and times only.
A shelter's identity (``provider_id`` of a ``shelter`` need) may put a person in danger:
the status service keeps it off ``cases.status``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from shared.contracts.common import Identifier, LanguageTag, Payload, Region, ShortText, Timestamp
from shared.contracts.inbound import Actor, ConsentScope, ProviderKind, ServiceDeclineReason

TOPIC = "services.events"


class ServiceEvent(Payload):
    TOPIC: ClassVar[str] = TOPIC

    case_id: Identifier
    agency_id: Identifier
    region: Region
    service_request_id: Identifier
    provider_id: Identifier
    need: ProviderKind
    specialist_id: Identifier  # who asked, and is told what becomes of it


class ServiceRequestSent(ServiceEvent):
    TYPE: ClassVar[str] = "casework.service.request_sent.v1"

    requested_by: Actor
    requested_at: Timestamp
    respond_by: Timestamp
    languages: list[LanguageTag]  # the person's, for the provider to plan (never who they are)
    share: list[ConsentScope]  # what the specialist would disclose where a consent covers it


class ServiceAccepted(ServiceEvent):
    TYPE: ClassVar[str] = "casework.service.accepted.v1"

    accepted_at: Timestamp


class ServiceDeclined(ServiceEvent):
    TYPE: ClassVar[str] = "casework.service.declined.v1"

    declined_at: Timestamp
    reason: ServiceDeclineReason | None = None
    next_provider_id: Identifier | None = None  # the next matching provider not yet asked


class ServiceCompleted(ServiceEvent):
    TYPE: ClassVar[str] = "casework.service.completed.v1"

    completed_at: Timestamp


class ServiceUnanswered(ServiceEvent):
    TYPE: ClassVar[str] = "casework.service.unanswered.v1"

    respond_by: Timestamp
    escalated_at: Timestamp
    next_provider_id: Identifier | None = None


class RequestRefusal(StrEnum):
    UNKNOWN_CASE = "unknown_case"  # no case with this id was opened here
    CASE_CLOSED = "case_closed"
    NOT_HOLDER = "not_holder"  # only the specialist who accepted the case asks for services
    UNKNOWN_PROVIDER = "unknown_provider"  # not in the directory
    NOT_OFFERED = "not_offered"  # the provider does not offer this kind of service
    NOT_ACCEPTING = "not_accepting"  # the provider takes no new requests
    ALREADY_REQUESTED = "already_requested"  # this service request id is taken


class ServiceRequestRefused(Payload):
    TOPIC: ClassVar[str] = TOPIC
    TYPE: ClassVar[str] = "casework.service.request_refused.v1"

    case_id: Identifier
    service_request_id: Identifier
    provider_id: Identifier
    need: ProviderKind
    requested_by: Actor
    refusal: RequestRefusal
    request_event_id: ShortText
    refused_at: Timestamp


class ResponseRefusal(StrEnum):
    UNKNOWN_REQUEST = "unknown_request"
    WRONG_PROVIDER = "wrong_provider"  # not the provider the request went to
    ALREADY_ENDED = "already_ended"  # declined or completed already
    NOT_ACCEPTED = "not_accepted"  # completed before it was accepted (accept first)


class ServiceResponseRefused(Payload):
    TOPIC: ClassVar[str] = TOPIC
    TYPE: ClassVar[str] = "casework.service.response_refused.v1"

    case_id: Identifier
    service_request_id: Identifier
    provider_id: Identifier
    refusal: ResponseRefusal
    request_event_id: ShortText
    refused_at: Timestamp


SERVICE_EVENTS: tuple[type[Payload], ...] = (
    ServiceRequestSent,
    ServiceRequestRefused,
    ServiceAccepted,
    ServiceDeclined,
    ServiceCompleted,
    ServiceUnanswered,
    ServiceResponseRefused,
)
