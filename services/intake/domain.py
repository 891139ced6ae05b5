"""Intake rules, pure: screening, minor determination, priority, and opening a case.

Nothing here does I/O. The person's identifying details reach ``decide`` already sealed
(see :mod:`services.intake.app`), so no state or event built here can hold them in clear.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from shared.cloudevents import derived_id
from shared.contracts.common import Priority, UrgentNeed
from shared.contracts.inbound import EncounterReported, Person
from shared.contracts.intake import CaseOpened, Screening
from shared.contracts.vocabulary import CATEGORIES, MINOR_SIGNS, split_code
from shared.kit import Inbound

ADULT_AGE = 18
LIFE_OR_SAFETY = frozenset({UrgentNeed.MEDICAL, UrgentNeed.SAFETY})


class CaseFile(BaseModel):
    """The intake aggregate, one per encounter (its agency and the agency's encounter id)."""

    case_id: str
    encounter_id: str
    agency_id: str
    region: str
    opened_at: datetime
    opened_by_event: str
    priority: Priority
    minor: bool
    vault: dict[str, str]  # the sealed subject: key id, nonce, ciphertext
    reports: int = 1  # how many times the agency reported this encounter


def screen(indicators: list[str]) -> tuple[Screening, list[str]]:
    """Counts per category (rule 2: informs, never labels) and the codes not in the vocabulary."""
    known = [split_code(code) for code in indicators]
    counts = Counter(k[0] for k in known if k)
    unknown = sorted({code for code, k in zip(indicators, known, strict=True) if k is None})
    categories = {category: counts.get(category, 0) for category in CATEGORIES}
    return Screening(categories=categories, indicator_count=sum(counts.values())), unknown


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_minor(person: Person, indicators: list[str], occurred_at: datetime) -> bool:
    """Under 18 by birth date or estimate at the encounter, or any minor-specific sign (M1)."""
    if person.date_of_birth and age_on(person.date_of_birth, occurred_at.date()) < ADULT_AGE:
        return True
    if person.age_estimate is not None and person.age_estimate < ADULT_AGE:
        return True
    return any(code in MINOR_SIGNS for code in indicators)


def priority_of(minor: bool, urgent_needs: list[UrgentNeed]) -> Priority:
    if minor or LIFE_OR_SAFETY.intersection(urgent_needs):
        return Priority.URGENT
    return Priority.HIGH if urgent_needs else Priority.NORMAL


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
