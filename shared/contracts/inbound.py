"""Inbound public topics (v1): what agency systems and specialist apps publish
(docs/design.md, Inbound topics)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.contracts.common import (
    REGION_OR_ANY_PATTERN,
    AgencyLevel,
    Contract,
    Email,
    Identifier,
    LanguageTag,
    LongText,
    Name,
    Payload,
    Phone,
    Region,
    ShortText,
    Timestamp,
    UrgentNeed,
    Url,
)

IndicatorCode = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Agency(Contract):
    id: Identifier
    name: Name
    level: AgencyLevel


class Officer(Contract):
    officer_id: Identifier
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class Contact(Contract):
    phone: Phone | None = None
    email: Email | None = None


class Person(Contract):
    """Everything here is personally identifying: it lives only in the intake vault (P2)."""

    given_name: Name | None = None
    family_name: Name | None = None
    aliases: list[Name] = Field(default_factory=list, max_length=20)
    date_of_birth: date | None = None
    age_estimate: int | None = Field(default=None, ge=0, le=130)
    gender: ShortText | None = None
    nationality: ShortText | None = None
    languages: list[LanguageTag] = Field(min_length=1, max_length=10)
    dialect: ShortText | None = None
    interpreter_needed: bool
    interpreter_gender_preference: ShortText | None = None
    contact: Contact | None = None


class EncounterReported(Payload):
    TYPE = "casework.encounter.reported.v1"
    TOPIC = "encounters.reported"

    encounter_id: Identifier
    agency: Agency
    reported_by: Officer
    occurred_at: Timestamp
    region: Region
    setting: ShortText | None = None
    person: Person
    indicators: list[IndicatorCode] = Field(default_factory=list, max_length=100)
    urgent_needs: list[UrgentNeed] = Field(default_factory=list, max_length=8)
    narrative: LongText | None = None
    # A later report of the same (agency.id, encounter_id) with a higher revision corrects
    # the earlier one; a lower or equal revision is a repeat (docs/design.md, Case life).
    revision: int = Field(default=0, ge=0, le=1_000_000)
    tip_id: Identifier | None = None  # the tip this encounter followed up, if any

    @property
    def subject(self) -> str:
        return self.encounter_id


class WithdrawalReason(StrEnum):
    ENTERED_IN_ERROR = "entered_in_error"
    DUPLICATE = "duplicate"
    OTHER = "other"


class EncounterWithdrawn(Payload):
    """The agency takes a report back: the case closes as ``withdrawn``; nothing is deleted."""

    TYPE = "casework.encounter.withdrawn.v1"
    TOPIC = "encounters.reported"

    encounter_id: Identifier
    agency_id: Identifier
    reason: WithdrawalReason

    @property
    def subject(self) -> str:
        return self.encounter_id


class SpecialistRole(StrEnum):
    VICTIM_SPECIALIST = "victim_specialist"
    SUPERVISOR = "supervisor"


# What a roster entry's regions cover (``*`` any, a country its subdivisions): shared.regions.
RegionPattern = Annotated[str, Field(pattern=REGION_OR_ANY_PATTERN)]


class SpecialistRegistered(Payload):
    TYPE = "casework.specialist.registered.v1"
    TOPIC = "roster.specialists"

    specialist_id: Identifier
    agency_id: Identifier
    name: Name
    email: Email
    phone: Phone | None = None
    webhook_url: Url | None = None
    languages: list[LanguageTag] = Field(default_factory=list, max_length=20)
    regions: list[RegionPattern] = Field(min_length=1, max_length=100)
    role: SpecialistRole
    on_duty: bool
    max_active_cases: int = Field(ge=0, le=10_000)

    @property
    def subject(self) -> str:
        return self.specialist_id


class ProviderKind(StrEnum):
    """What a support-service provider offers (an urgent need's kinds and more)."""

    SHELTER = "shelter"
    MEDICAL = "medical"
    LEGAL = "legal"
    FOOD = "food"
    CLOTHING = "clothing"
    CHILDCARE = "childcare"
    SAFETY = "safety"
    MENTAL_HEALTH = "mental_health"
    INTERPRETATION = "interpretation"
    OTHER = "other"


class ProviderRegistered(Payload):
    """A support-service provider in the directory (compacted by provider id; a null value
    removes it). A shelter's entry names the organisation, never where the shelter is."""

    TYPE = "casework.provider.registered.v1"
    TOPIC = "providers.registered"

    provider_id: Identifier
    name: Name
    kinds: list[ProviderKind] = Field(min_length=1, max_length=len(ProviderKind))
    regions: list[RegionPattern] = Field(min_length=1, max_length=100)
    languages: list[LanguageTag] = Field(default_factory=list, max_length=20)
    email: Email
    webhook_url: Url | None = None
    accepting: bool = True

    @property
    def subject(self) -> str:
        return self.provider_id


class ReferralResponseKind(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class DeclineReason(StrEnum):
    """Why a specialist declines a referral from the dashboard (integrators may send any short
    text; the dashboard offers only these, so no free text about a person gets in)."""

    AT_CAPACITY = "at_capacity"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    LANGUAGE = "language"
    OUT_OF_AREA = "out_of_area"
    UNAVAILABLE = "unavailable"
    OTHER = "other"


class ReferralResponded(Payload):
    TYPE = "casework.referral.responded.v1"
    TOPIC = "referrals.responded"

    case_id: Identifier
    referral_id: Identifier
    specialist_id: Identifier
    response: ReferralResponseKind
    reason: ShortText | None = None


class RecordedBy(Contract):
    id: Identifier
    role: Identifier


class NeedsAssessed(Contract):
    kind: Literal["needs_assessed"]
    urgent_needs: list[UrgentNeed] = Field(max_length=8)


class UrgentNeedMet(Contract):
    kind: Literal["urgent_need_met"]
    need: UrgentNeed


class InterpreterAttestations(Contract):
    """Interpreter independence (rule I3): every one must be true to satisfy the gate."""

    no_relationship_to_person: bool
    no_ties_to_trafficker: bool
    not_victim_advocate: bool
    gender_preference_respected: bool


class InterpreterArranged(Contract):
    kind: Literal["interpreter_arranged"]
    language: LanguageTag
    dialect: ShortText | None = None
    mode: Literal["in_person", "telephonic"]
    attestations: InterpreterAttestations


class RightsExplained(Contract):
    kind: Literal["rights_explained"]


class HhsNotified(Contract):
    kind: Literal["hhs_notified"]


Milestone = Annotated[
    NeedsAssessed | UrgentNeedMet | InterpreterArranged | RightsExplained | HhsNotified,
    Field(discriminator="kind"),
]


class StabilizationRecorded(Payload):
    TYPE = "casework.stabilization.recorded.v1"
    TOPIC = "stabilization.recorded"

    case_id: Identifier
    recorded_by: RecordedBy
    milestone: Milestone


class LocationType(StrEnum):
    NEUTRAL = "neutral"
    SHELTER = "shelter"
    POLICE_STATION = "police_station"
    IMMIGRATION_OFFICE = "immigration_office"
    OTHER = "other"


class InterviewRequester(Contract):
    officer_id: Identifier
    agency_id: Identifier
    email: Email | None = None


class InterviewRequested(Payload):
    TYPE = "casework.interview.requested.v1"
    TOPIC = "interviews.requested"

    case_id: Identifier
    interview_id: Identifier
    requested_by: InterviewRequester
    proposed_at: Timestamp
    location_type: LocationType


class CertificationKind(StrEnum):
    CONTINUED_PRESENCE = "continued_presence"
    T_VISA_DECLARATION = "t_visa_declaration"
    U_VISA_CERTIFICATION = "u_visa_certification"


class CertificationRequester(Contract):
    officer_id: Identifier
    agency_id: Identifier
    agency_level: AgencyLevel


class CertificationRequested(Payload):
    TYPE = "casework.certification.requested.v1"
    TOPIC = "certifications.requested"

    case_id: Identifier
    certification_id: Identifier
    kind: CertificationKind
    requested_by: CertificationRequester


class RecordedStatus(StrEnum):
    SIGNED = "signed"
    SUBMITTED = "submitted"
    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    RENEWED = "renewed"


class SignatoryCapacity(StrEnum):
    AGENCY_HEAD = "agency_head"
    DESIGNATED_SUPERVISOR = "designated_supervisor"
    JUDGE = "judge"
    OTHER = "other"


class Signatory(Contract):
    name: Name
    title: Name
    capacity: SignatoryCapacity


class CertificationRecorded(Payload):
    TYPE = "casework.certification.recorded.v1"
    TOPIC = "certifications.recorded"

    case_id: Identifier
    certification_id: Identifier
    status: RecordedStatus
    at: Timestamp
    signed_by: Signatory | None = None
    valid_until: Timestamp | None = None


class ActorRole(StrEnum):
    """Who may act on a case's life: its specialist or a supervisor."""

    VICTIM_SPECIALIST = "victim_specialist"
    SUPERVISOR = "supervisor"


class Actor(Contract):
    id: Identifier
    role: ActorRole


class ClosureReason(StrEnum):
    SERVICES_COMPLETED = "services_completed"
    DECLINED_SERVICES = "declined_services"
    LOST_CONTACT = "lost_contact"
    TRANSFERRED = "transferred"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"
    OTHER = "other"


class CaseClosed(Payload):
    """A request to close a case; the referral service applies it if the actor may close it."""

    TYPE = "casework.case.closed.v1"
    TOPIC = "cases.closed"

    case_id: Identifier
    closed_by: Actor
    reason: ClosureReason


class ReopenReason(StrEnum):
    RE_ENGAGED = "re_engaged"
    NEW_INFORMATION = "new_information"
    CLOSED_IN_ERROR = "closed_in_error"
    OTHER = "other"


class CaseReopened(Payload):
    TYPE = "casework.case.reopened.v1"
    TOPIC = "cases.reopened"

    case_id: Identifier
    reopened_by: Actor
    reason: ReopenReason


class ReassignmentReason(StrEnum):
    HANDOVER = "handover"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    WORKLOAD = "workload"
    LANGUAGE = "language"
    OTHER = "other"


class ReferralReassigned(Payload):
    """A supervisor moves a case, or its holder hands it over; absent ``to_specialist_id``
    means match anew, never the current holder."""

    TYPE = "casework.referral.reassigned.v1"
    TOPIC = "referrals.reassigned"

    case_id: Identifier
    requested_by: Actor
    to_specialist_id: Identifier | None = None
    reason: ReassignmentReason


class ConsentScope(StrEnum):
    """What a consent lets a recipient see (P2): the identity, the contact, the case's status."""

    IDENTITY = "identity"
    CONTACT = "contact"
    CASE_STATUS = "case_status"


class ServiceRequested(Payload):
    """A specialist asks a provider to serve the person. Never conditioned on consent (P2):
    ``share`` only says what the specialist would like disclosed, where a consent covers it."""

    TYPE = "casework.service.requested.v1"
    TOPIC = "services.requested"

    case_id: Identifier
    service_request_id: Identifier
    provider_id: Identifier
    need: ProviderKind
    requested_by: Actor
    share: list[ConsentScope] = Field(default_factory=list, max_length=len(ConsentScope))


class ServiceResponse(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"


class ServiceDeclineReason(StrEnum):
    """Why a provider declines (an enumeration: no free text about a person gets in)."""

    NO_CAPACITY = "no_capacity"
    NOT_ELIGIBLE = "not_eligible"
    LANGUAGE = "language"
    OUT_OF_AREA = "out_of_area"
    UNREACHABLE = "unreachable"
    OTHER = "other"


class ServiceResponded(Payload):
    TYPE = "casework.service.responded.v1"
    TOPIC = "services.responded"

    case_id: Identifier
    service_request_id: Identifier
    provider_id: Identifier
    response: ServiceResponse
    reason: ServiceDeclineReason | None = None


class ConsentForm(StrEnum):
    """How the person gave consent. Only ``written`` and ``electronic`` let anything be
    disclosed (P2: informed, written consent); ``verbal`` is recorded, and discloses nothing."""

    WRITTEN = "written"
    ELECTRONIC = "electronic"
    VERBAL = "verbal"


class RecipientKind(StrEnum):
    SERVICE_PROVIDER = "service_provider"
    TASK_FORCE = "task_force"
    AGENCY = "agency"


class ConsentRecipient(Contract):
    kind: RecipientKind
    id: Identifier


class ConsentRecorded(Payload):
    """The person consented to let one recipient see some of what the vault holds, until
    ``expires_at`` (reasonably time-limited) or a revocation, whichever comes first."""

    TYPE = "casework.consent.recorded.v1"
    TOPIC = "consents.recorded"

    case_id: Identifier
    consent_id: Identifier
    recorded_by: Actor
    scope: list[ConsentScope] = Field(min_length=1, max_length=len(ConsentScope))
    recipient: ConsentRecipient
    form: ConsentForm
    given_at: Timestamp
    expires_at: Timestamp

    @model_validator(mode="after")
    def _time_limited(self) -> ConsentRecorded:
        if self.expires_at <= self.given_at:
            raise ValueError("expires_at must be after given_at")
        return self


class ConsentRevoked(Payload):
    TYPE = "casework.consent.revoked.v1"
    TOPIC = "consents.revoked"

    case_id: Identifier
    consent_id: Identifier
    revoked_by: Actor
    at: Timestamp


INBOUND: tuple[type[Payload], ...] = (
    EncounterReported,
    EncounterWithdrawn,
    CaseClosed,
    CaseReopened,
    ReferralReassigned,
    ServiceRequested,
    ServiceResponded,
    ConsentRecorded,
    ConsentRevoked,
    SpecialistRegistered,
    ProviderRegistered,
    ReferralResponded,
    StabilizationRecorded,
    InterviewRequested,
    CertificationRequested,
    CertificationRecorded,
)


