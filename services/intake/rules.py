"""Intake's named rules, pure: screening (rule 2), minor determination (M1) and priority."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from shared.contracts.common import Priority, UrgentNeed
from shared.contracts.inbound import Person
from shared.contracts.intake import Screening
from shared.contracts.vocabulary import CATEGORIES, MINOR_SIGNS, split_code

ADULT_AGE = 18
LIFE_OR_SAFETY = frozenset({UrgentNeed.MEDICAL, UrgentNeed.SAFETY})


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


def is_correction(current_revision: int, reported_revision: int) -> bool:
    """A report corrects the case only with a higher revision; a lower or equal one is a repeat."""
    return reported_revision > current_revision
