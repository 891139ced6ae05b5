"""What the intake service publishes: ``cases.opened`` and alerts on ``intake.events``.

No field here identifies the person (rule 7, P2): names, contacts, birth dates and the
narrative stay in the intake vault.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.contracts.common import (
    AgencyLevel,
    Contract,
    Identifier,
    LanguageTag,
    Payload,
    Priority,
    Region,
    ShortText,
    Timestamp,
    UrgentNeed,
)
from shared.contracts.inbound import WithdrawalReason


class Screening(Contract):
    """Indicator counts per category (rule 2: informs, never labels)."""

    categories: dict[str, int]
    indicator_count: int = Field(ge=0)


class ScreenedCase(Payload):
    """What intake knows of a case from its encounter report, without PII: the fields of an
    opening and of a correction."""

    TOPIC: ClassVar[str] = "cases.opened"

    case_id: Identifier
    encounter_id: Identifier
    agency_id: Identifier
    region: Region
    occurred_at: Timestamp
    languages: list[LanguageTag]
    dialect: ShortText | None = None
    interpreter_needed: bool
    urgent_needs: list[UrgentNeed]
    priority: Priority
    minor: bool
    screening: Screening
    # Codes outside the vocabulary are kept and flagged, never a reason to drop (docs/design.md, Bad input).
    unknown_indicators: list[str] = Field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.case_id


class CaseOpened(ScreenedCase):
    TYPE: ClassVar[str] = "casework.case.opened.v1"

    agency_level: AgencyLevel
    officer_id: Identifier
    opened_at: Timestamp
    revision: int = Field(default=0, ge=0)  # the encounter report's revision the case was opened from


class CaseCorrected(ScreenedCase):
    """A higher revision of the encounter: the case's screening, priority and minor status
    as re-computed from it (no PII: the corrected identity goes to the vault only).

    ``minor_revealed`` is true when this correction is the first to show a minor: the HHS
    notice is due 24 hours from ``occurred_at`` (rule M1)."""

    TYPE: ClassVar[str] = "casework.case.corrected.v1"

    revision: int = Field(ge=1)
    corrected_at: Timestamp
    minor_revealed: bool


class CaseWithdrawn(Payload):
    """The agency withdrew the encounter: the referral service closes the case as
    ``withdrawn`` and the assigned specialist is told; nothing is deleted."""

    TYPE = "casework.case.withdrawn.v1"
    TOPIC = "cases.opened"

    case_id: Identifier
    encounter_id: Identifier
    agency_id: Identifier
    reason: WithdrawalReason
    withdrawn_at: Timestamp


class EncounterUnprocessable(Payload):
    """An encounter that could not be read at all: a person may be waiting for help."""

    TYPE = "casework.encounter.unprocessable.v1"
    TOPIC = "intake.events"

    alert_id: Identifier
    agency_id: Identifier | None = None
    region: Region | None = None
    encounter_id: Identifier | None = None
    source: ShortText
    error_type: ShortText
    error: ShortText
    received_at: Timestamp

    @property
    def subject(self) -> str:
        return self.encounter_id or self.alert_id
