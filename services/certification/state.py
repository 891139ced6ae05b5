"""The certification aggregate: one per case, holding all of its certifications (stored in Mongo),
and the policy its workflows follow.

One aggregate per case: both inbound topics are keyed by case id, so a case's records keep
their order within a topic (across the two topics, see ``ParkedRecord``), and the
``certifications.status`` snapshot is simply the aggregate. Certifications are a list, not a
dict keyed by id: ids may contain '.', which a document key may not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from shared.contracts.certifications import CertificationStatus
from shared.contracts.common import AgencyLevel
from shared.contracts.inbound import CertificationKind, CertificationRecorded, SignatoryCapacity
from shared.settings import CertificationSettings

from . import deadlines


@dataclass(frozen=True)
class Policy:
    """Continued Presence duration and renewal lead time (C3: configuration), and how long a
    record may wait for a request that has not arrived yet."""

    cp_duration: timedelta = timedelta(days=730)
    cp_renewal_lead: timedelta = timedelta(days=90)
    orphan_grace: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings: CertificationSettings) -> Policy:
        return cls(cp_duration=timedelta(days=settings.cp_duration_days),
                   cp_renewal_lead=timedelta(days=settings.cp_renewal_lead_days))


class Certification(BaseModel):
    certification_id: str
    kind: CertificationKind
    status: CertificationStatus
    agency_id: str
    agency_level: AgencyLevel
    officer_id: str
    routed_through_hsi: bool = False
    requested_at: datetime
    updated_at: datetime
    signed_at: datetime | None = None
    signed_on: date | None = None
    signatory_capacity: SignatoryCapacity | None = None
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    valid_until: datetime | None = None
    expires_on: date | None = None
    renewals: int = 0
    reminders_sent: list[str] = []
    # The agency's UTC offset from the record that set the deadline: deadlines are its dates.
    utc_offset_minutes: int = 0

    def lapses_at(self) -> datetime | None:
        """The instant it stops being valid: a U visa's deadline ends, a CP's ``valid_until``."""
        if self.expires_on is not None:
            return deadlines.lapses_at(self.expires_on, self.utc_offset_minutes)
        return self.valid_until

    def deadline(self) -> date | None:
        """The last calendar day it is valid, in the agency's offset."""
        if self.expires_on is not None:
            return self.expires_on
        if self.valid_until is not None:
            last_moment = self.valid_until - timedelta(microseconds=1)
            return deadlines.agency_date(last_moment, self.utc_offset_minutes)
        return None


class ParkedRecord(BaseModel):
    """A record that came before its request: the two inbound topics are not ordered with
    each other (a backlog after a restart is read from both at once), so it waits a while."""

    event_id: str
    certification_id: str
    record: dict[str, Any]  # the CertificationRecorded payload as JSON (its offset kept)
    parked_at: datetime

    def recorded(self) -> CertificationRecorded:
        return CertificationRecorded.model_validate_json(json.dumps(self.record))


class CaseCertificationFile(BaseModel):
    """The aggregate (id = case id)."""

    case_id: str
    version: int = 0  # of the certifications.status snapshot: +1 per change
    certifications: list[Certification] = []
    parked: list[ParkedRecord] = []
    timers: dict[str, datetime] = {}

    def find(self, certification_id: str) -> Certification | None:
        found = (c for c in self.certifications if c.certification_id == certification_id)
        return next(found, None)

    def put(self, cert: Certification) -> CaseCertificationFile:
        """This file with ``cert`` added, or replacing the one with its id."""
        kept = [c for c in self.certifications if c.certification_id != cert.certification_id]
        if len(kept) == len(self.certifications):
            return self.model_copy(update={"certifications": [*kept, cert]})
        same = cert.certification_id
        return self.model_copy(update={"certifications": [
            cert if c.certification_id == same else c for c in self.certifications]})
