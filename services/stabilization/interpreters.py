"""Vetting an interpreter arrangement (rule 3, I3): independence and the right language.

An arrangement that fails any check is rejected with every reason and never satisfies
the interpreter gate.
"""

from __future__ import annotations

from shared.contracts.inbound import InterpreterArranged, InterpreterAttestations
from shared.contracts.stabilization import InterpreterRejection

from .state import Arrangement

_ATTESTATIONS: tuple[tuple[str, InterpreterRejection], ...] = (
    ("no_relationship_to_person", InterpreterRejection.RELATIONSHIP_TO_PERSON),
    ("no_ties_to_trafficker", InterpreterRejection.TIES_TO_TRAFFICKER),
    ("not_victim_advocate", InterpreterRejection.VICTIM_ADVOCATE),
    ("gender_preference_respected", InterpreterRejection.GENDER_PREFERENCE_NOT_RESPECTED),
)


def attestation_failures(attestations: InterpreterAttestations) -> list[InterpreterRejection]:
    return [reason for field, reason in _ATTESTATIONS if not getattr(attestations, field)]


def _subtags(tag: str) -> list[str]:
    return tag.lower().split("-")


def speaks(languages: list[str], tag: str) -> bool:
    """BCP 47 match where one tag extends the other: ``es`` ~ ``es-HN``, ``ar-EG`` !~ ``ar-MA``."""
    wanted = _subtags(tag)
    for spoken in map(_subtags, languages):
        shorter = min(len(spoken), len(wanted))
        if spoken[:shorter] == wanted[:shorter]:
            return True
    return False


def language_failures(languages: list[str], language: str) -> list[InterpreterRejection]:
    return [] if speaks(languages, language) else [InterpreterRejection.LANGUAGE_NOT_SPOKEN]


def arrangement_of(milestone: InterpreterArranged, recorded_by: dict[str, str] | None) -> Arrangement:
    return Arrangement(language=milestone.language, dialect=milestone.dialect, mode=milestone.mode,
                       recorded_by=recorded_by)
