"""Intake, pure: opening a case for each reported encounter.

The case file (the aggregate) is in :mod:`.state`; screening, minor determination and
priority, the named rules, in :mod:`.rules`. Nothing here does I/O. The person's identifying
details reach ``decide`` already sealed (see :mod:`services.intake.app`), so no state or event
built here can hold them in clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.cloudevents import derived_id
from shared.contracts.inbound import EncounterReported
from shared.contracts.intake import CaseOpened
from shared.kit import Inbound

from .rules import is_minor, priority_of, screen
from .state import CaseFile


def encounter_key(agency_id: str, encounter_id: str) -> str:
    """An encounter's identity: its agency and the agency's own number for it.

    Agencies number their encounters independently (two may both report "E-1001"); ``|`` is
    not allowed in either id, so the pair splits back unambiguously.
    """
    return f"{agency_id}|{encounter_id}"


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
           sealed: dict[str, str]) -> tuple[CaseFile, list[CaseOpened]]:
    """Open one case per encounter, whatever the screening says (rule 1, D2).

    A second report of the same encounter (the same agency's encounter id), under any event
    id, opens nothing new.
    """
    encounter: EncounterReported = event.data
    if state is not None:
        return state.model_copy(update={"reports": state.reports + 1}), []
    screening, unknown = screen(encounter.indicators)
    minor = is_minor(encounter.person, encounter.indicators, encounter.occurred_at)
    needs = sorted(set(encounter.urgent_needs))
    case = CaseFile(
        case_id=case_id_for(encounter.agency.id, encounter.encounter_id), encounter_id=encounter.encounter_id,
        agency_id=encounter.agency.id,
        region=encounter.region, opened_at=now, opened_by_event=event.id,
        priority=priority_of(minor, needs), minor=minor, vault=sealed,
    )
    opened = CaseOpened(
        case_id=case.case_id, encounter_id=encounter.encounter_id, agency_id=encounter.agency.id,
        agency_level=encounter.agency.level, officer_id=encounter.reported_by.officer_id,
        region=encounter.region, occurred_at=encounter.occurred_at, opened_at=now,
        languages=list(dict.fromkeys(encounter.person.languages)), dialect=encounter.person.dialect,
        interpreter_needed=encounter.person.interpreter_needed, urgent_needs=needs,
        priority=case.priority, minor=minor, screening=screening, unknown_indicators=unknown,
    )
    return case, [opened]
