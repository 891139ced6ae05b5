"""Who a notification goes to: roster and provider contacts and the rules that pick them (pure).

Contacts come from ``roster.specialists`` and, for support-service providers, from
``providers.registered``; the requesting officer's address comes with the interview events.
Only what delivery needs is kept: no people's names (P3, collect the minimum).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from shared.contracts.inbound import SpecialistRegistered
from shared.contracts.notifications import Channel, RecipientRole
from shared.regions import covers


class Contact(BaseModel):
    """A recipient and where to reach them (an e-mail always; a webhook if they have one)."""

    model_config = ConfigDict(frozen=True)

    id: str
    role: RecipientRole
    email: str | None = None  # None: not on file yet, looked up again when sending
    webhook_url: str | None = None
    agency_id: str | None = None
    regions: list[str] = []
    on_duty: bool = True

    @classmethod
    def of(cls, registered: SpecialistRegistered) -> Contact:
        return cls(id=registered.specialist_id, role=RecipientRole(registered.role.value),
                   email=registered.email, webhook_url=registered.webhook_url,
                   agency_id=registered.agency_id, regions=list(registered.regions),
                   on_duty=registered.on_duty)

    @classmethod
    def officer(cls, officer_id: str, email: str | None) -> Contact:
        return cls(id=f"officer:{officer_id}", role=RecipientRole.OFFICER, email=email)

    @classmethod
    def provider(cls, provider_id: str, email: str | None = None, webhook_url: str | None = None) -> Contact:
        """A support-service provider (an organisation, never a person), by its directory id."""
        return cls(id=provider_id, role=RecipientRole.SERVICE_PROVIDER, email=email, webhook_url=webhook_url)

    @property
    def channels(self) -> list[Channel]:
        return [Channel.EMAIL, Channel.WEBHOOK] if self.webhook_url else [Channel.EMAIL]

    def covers(self, region: str) -> bool:
        """``*``, the region itself, or its country (see :mod:`shared.regions`)."""
        return covers(self.regions, region)

    def address(self, channel: Channel) -> str | None:
        return self.webhook_url if channel is Channel.WEBHOOK else self.email


@dataclass(frozen=True)
class Directory:
    """What one batch of events needs to know about people, read before ``decide``."""

    contacts: dict[str, Contact] = field(default_factory=dict)  # named recipients by id
    supervisors: tuple[Contact, ...] = ()  # every on-duty supervisor
    rostered: tuple[Contact, ...] = ()  # every supervisor on the roster, on duty or not
    case_specialists: dict[str, str] = field(default_factory=dict)  # case id -> specialist
    case_regions: dict[str, str] = field(default_factory=dict)  # case id -> region
    case_agencies: dict[str, str] = field(default_factory=dict)  # case id -> agency
    providers: dict[str, Contact] = field(default_factory=dict)  # named providers by id

    def contact(self, specialist_id: str) -> Contact:
        """A named specialist; one not on file yet is kept, to be looked up when sending."""
        return self.contacts.get(specialist_id) or Contact(id=specialist_id,
                                                           role=RecipientRole.VICTIM_SPECIALIST)

    def provider(self, provider_id: str) -> Contact:
        """A named provider; one not in the directory here yet is kept, to be looked up when sending."""
        return self.providers.get(provider_id) or Contact.provider(provider_id)

    def case_specialist(self, case_id: str) -> list[Contact]:
        holder = self.case_specialists.get(case_id)
        return [self.contact(holder)] if holder else []

    def of_region(self, region: str | None) -> list[Contact]:
        return [s for s in self.supervisors if region and s.covers(region)]

    def of_agency(self, agency_id: str | None) -> list[Contact]:
        """The agency's on-duty supervisors; when no supervisor at all is on duty, all of the agency's."""
        pool = self.supervisors or self.rostered
        return [s for s in pool if agency_id and s.agency_id == agency_id]

    def everyone(self, agency_id: str | None = None) -> list[Contact]:
        """Every on-duty supervisor. When no supervisor at all is on duty: every supervisor of
        the agency, on duty or not, or every supervisor on the roster when the agency has none
        or is unknown (an alert must reach someone)."""
        if self.supervisors:
            return list(self.supervisors)
        return [s for s in self.rostered if agency_id and s.agency_id == agency_id] or list(self.rostered)

    def region_or_everyone(self, region: str | None, agency_id: str | None = None) -> list[Contact]:
        """The region's supervisors; every one on duty when none covers it (someone must know)."""
        return self.of_region(region) or self.everyone(agency_id)


def unique(contacts: Iterable[Contact]) -> list[Contact]:
    """Each recipient once, first mention first (a specialist may also supervise)."""
    seen: dict[str, Contact] = {}
    for contact in contacts:
        seen.setdefault(contact.id, contact)
    return list(seen.values())
