"""Screening indicator vocabulary (DHS Blue Campaign indicators; D1).

The table and its sources: docs/domain.md, Screening indicators.

A code is written ``category.code``. No indicator is proof and none is required.
"""

from __future__ import annotations

INDICATORS: dict[str, frozenset[str]] = {
    "general": frozenset({
        "disconnected_from_family", "stopped_attending_school", "sudden_behavior_change",
        "minor_in_commercial_sex", "disoriented_or_confused", "signs_of_physical_abuse",
        "fearful_or_submissive", "denied_food_water_sleep_or_care", "defers_to_another_person",
        "coached_on_what_to_say", "unsuitable_living_conditions", "lacks_personal_possessions",
        "lacks_freedom_of_movement",
    }),
    "encounter": frozenset({
        "fears_law_enforcement", "does_not_self_identify", "incomplete_or_rehearsed_story",
        "identifies_with_trafficker",
    }),
    "labor": frozenset({
        "recruited_for_different_job", "wages_withheld_for_debt", "excessive_hours",
        "unpaid_or_underpaid",
    }),
    "control": frozenset({
        "documents_held_by_another", "threatened_with_deportation_or_harm",
        "cannot_contact_family", "monitored_or_escorted",
    }),
    "living": frozenset({"lives_at_workplace", "crowded_or_locked_housing"}),
    "travel": frozenset({
        "unaware_of_destination_or_contact", "debt_for_travel_costs",
        "minor_travelling_without_guardian",
    }),
    "minor": frozenset({"unexplained_school_absence", "older_partner", "unexplained_money_or_goods"}),
}

CATEGORIES: tuple[str, ...] = tuple(INDICATORS)

# Codes that by themselves mean the person may be under 18 (docs/domain.md, Minor and priority).
MINOR_SIGNS: frozenset[str] = frozenset(
    {f"minor.{code}" for code in INDICATORS["minor"]}
    | {"general.minor_in_commercial_sex", "travel.minor_travelling_without_guardian"}
)


def split_code(code: str) -> tuple[str, str] | None:
    """``(category, code)`` for a known indicator, ``None`` for anything else."""
    category, _, name = code.partition(".")
    if name and name in INDICATORS.get(category, ()):
        return category, name
    return None
