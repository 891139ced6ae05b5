"""Intake, pure: a case for each reported encounter, its corrections and its withdrawal.

The case file (the aggregate) is in :mod:`.state`; screening, minor determination and
priority, the named rules, in :mod:`.rules`. Nothing here does I/O. The person's identifying
details reach ``decide`` already sealed (see :mod:`services.intake.app`), so no state or event
built here can hold them in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.cloudevents import derived_id
from shared.contracts.common import Payload, Priority, UrgentNeed
from shared.contracts.inbound import EncounterReported, EncounterWithdrawn
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn, Screening
from shared.errors import InvalidEvent
from shared.kit import Inbound

from .rules import is_correction, is_minor, priority_of, screen
from .state import CaseFile

UNKNOWN_ENCOUNTER = "UnknownEncounter"


def encounter_key(agency_id: str, encounter_id: str) -> str:
    """An encounter's identity: its agency and the agency's own number for it.

    Agencies number their encounters independently (two may both report "E-1001"); ``|`` is
    not allowed in either id, so the pair splits back unambiguously.
    """
    return f"{agency_id}|{encounter_id}"


def aggregate_of(data: EncounterReported | EncounterWithdrawn) -> str:
    """The case file an inbound event belongs to: its encounter's identity."""
    if isinstance(data, EncounterWithdrawn):
        return encounter_key(data.agency_id, data.encounter_id)
    return encounter_key(data.agency.id, data.encounter_id)


def case_id_for(agency_id: str, encounter_id: str) -> str:
    """The case id, fixed by the encounter it opens for (stable across redelivery and re-reports)."""
    return "case-" + derived_id(encounter_key(agency_id, encounter_id), "case")


def subject_of(encounter: EncounterReported) -> dict[str, Any]:
    """What goes into the vault: everything that could identify the person or the scene."""
    return {
        "person": encounter.person.model_dump(mode="json", exclude_none=True),
        "narrative": encounter.narrative,
        "setting": encounter.setting,
        "reported_by": encounter.reported_by.model_dump(mode="json", exclude_none=True),
    }


def decide(state: CaseFile | None, event: Inbound, now: datetime, *,
           sealed: dict[str, str] | None) -> tuple[CaseFile, list[Payload]]:
    """An encounter report opens or corrects its case; a withdrawal withdraws it.

    ``sealed`` is the report's subject, sealed for the vault (``None`` for a withdrawal).
    """
    data = event.data
    if isinstance(data, EncounterWithdrawn):
        return withdraw(state, data, now)
    if not isinstance(data, EncounterReported):
        raise TypeError(f"intake does not handle {type(data).__name__}")
    if sealed is None:
        raise ValueError("an encounter report is decided with its sealed subject")
    if state is None:
        return open_case(data, event.id, now, sealed)
    if not is_correction(state.revision, data.revision):
        # A repeat (any event id, a lower or equal revision): nothing new, and its sealed copy is dropped.
        return state.model_copy(update={"reports": state.reports + 1}), []
    return correct(state, data, now, sealed)


def open_case(encounter: EncounterReported, event_id: str, now: datetime,
              sealed: dict[str, str]) -> tuple[CaseFile, list[Payload]]:
    """Open one case per encounter, whatever the screening says (rule 1, D2)."""
    facts = facts_of(encounter)
    case = CaseFile(
        case_id=case_id_for(encounter.agency.id, encounter.encounter_id), encounter_id=encounter.encounter_id,
        agency_id=encounter.agency.id, region=encounter.region, opened_at=now, opened_by_event=event_id,
        priority=facts.priority, minor=facts.minor, minor_shown=facts.minor, vault=sealed,
        revision=encounter.revision,
    )
    opened = CaseOpened(
        case_id=case.case_id, encounter_id=encounter.encounter_id, agency_id=encounter.agency.id,
        agency_level=encounter.agency.level, officer_id=encounter.reported_by.officer_id,
        region=encounter.region, occurred_at=encounter.occurred_at, opened_at=now,
        priority=case.priority, revision=encounter.revision, **facts.fields(),
    )
    return case, [opened]


def correct(state: CaseFile, encounter: EncounterReported, now: datetime,
            sealed: dict[str, str]) -> tuple[CaseFile, list[Payload]]:
    """A higher revision: re-screen, recompute priority and minor status, and keep only its
    identity in the vault (the earlier sealed version is replaced, not kept beside it)."""
    facts = facts_of(encounter)
    revealed = facts.minor and not state.showed_minor
    case = state.model_copy(update={
        "region": encounter.region, "priority": facts.priority, "minor": facts.minor,
        "minor_shown": state.showed_minor or facts.minor, "vault": sealed, "revision": encounter.revision,
        "reports": state.reports + 1, "corrected_at": now,
    })
    corrected = CaseCorrected(
        case_id=state.case_id, encounter_id=state.encounter_id, agency_id=state.agency_id,
        revision=encounter.revision, region=encounter.region, occurred_at=encounter.occurred_at,
        corrected_at=now, priority=facts.priority, minor_revealed=revealed, **facts.fields(),
    )
    return case, [corrected]


def withdraw(state: CaseFile | None, withdrawn: EncounterWithdrawn,
             now: datetime) -> tuple[CaseFile, list[Payload]]:
    """The agency takes its report back: the case is withdrawn once; nothing is deleted.

    A withdrawal of an encounter never reported here cannot be applied, and is not silently
    dropped either: it is dead-lettered (``UnknownEncounter``) where it can be replayed once
    its report has arrived.
    """
    if state is None:
        raise InvalidEvent(UNKNOWN_ENCOUNTER, "no case was opened for this agency's encounter: "
                                              "a withdrawal must follow its report")
    if state.withdrawn is not None:  # withdrawn already: a repeat (whatever its reason) changes nothing
        return state, []
    case = state.model_copy(update={"withdrawn": withdrawn.reason, "withdrawn_at": now})
    return case, [CaseWithdrawn(case_id=state.case_id, encounter_id=state.encounter_id,
                                agency_id=state.agency_id, reason=withdrawn.reason, withdrawn_at=now)]


@dataclass(frozen=True)
class Facts:
    """What one report says about the case, computed from that report alone (no PII)."""

    screening: Screening
    unknown: list[str]
    minor: bool
    needs: list[UrgentNeed]
    priority: Priority
    languages: list[str]
    dialect: str | None
    interpreter_needed: bool

    def fields(self) -> dict[str, Any]:
        """The fields ``CaseOpened`` and ``CaseCorrected`` share."""
        return {"languages": self.languages, "dialect": self.dialect, "interpreter_needed": self.interpreter_needed,
                "urgent_needs": self.needs, "minor": self.minor, "screening": self.screening,
                "unknown_indicators": self.unknown}


def facts_of(encounter: EncounterReported) -> Facts:
    """Screening (rule 2), minor status (M1) and priority, from this report."""
    screening, unknown = screen(encounter.indicators)
    minor = is_minor(encounter.person, encounter.indicators, encounter.occurred_at)
    needs = sorted(set(encounter.urgent_needs))
    return Facts(screening=screening, unknown=unknown, minor=minor, needs=needs, priority=priority_of(minor, needs),
                 languages=list(dict.fromkeys(encounter.person.languages)), dialect=encounter.person.dialect,
                 interpreter_needed=encounter.person.interpreter_needed)
