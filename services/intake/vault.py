"""The vault: a case file's sealed subject, bound to its key id and its case id.

The associated data of every record sealed now is the key id and the case id
(``aad: case``), so a sealed record copied into another case file does not open there.
The case id is the one its encounter derives (:func:`.domain.case_id_for`): what an
opening and every correction of the encounter share, known before ``decide`` runs (a case
opened before the ``(agency, encounter)`` identity kept its earlier id and is sealed under
this one from its first correction on). Records sealed before were bound to the encounter
id; they carry no ``aad`` marker and still open with it.

A record sealed under an older key is sealed again under the active one by
:func:`resealed` (``casework keys rotate``, :mod:`.rotation`), bound as it was.
"""

from __future__ import annotations

from typing import Any

from shared.contracts.inbound import EncounterReported
from shared.crypto import KeyRing, Sealed

from .domain import case_id_for, subject_of
from .state import CaseFile

AAD = "aad"
BOUND_TO_CASE = "case"


def seal(keyring: KeyRing, encounter: EncounterReported) -> dict[str, str]:
    """The report's subject, sealed for its case's vault."""
    case_id = case_id_for(encounter.agency.id, encounter.encounter_id)
    return keyring.seal(subject_of(encounter), case_id).to_dict() | {AAD: BOUND_TO_CASE}


def context_of(case: CaseFile) -> str:
    """What the case file's vault was bound to: its case id, or (sealed before) its encounter id."""
    if case.vault.get(AAD) == BOUND_TO_CASE:
        return case_id_for(case.agency_id, case.encounter_id)
    return case.encounter_id


def open_subject(keyring: KeyRing, case: CaseFile) -> dict[str, Any]:
    """The person's identity as sealed (raises ``VaultKeyError`` if the ring cannot open it)."""
    return keyring.open(Sealed.from_dict(case.vault), context_of(case))


def resealed(keyring: KeyRing, case: CaseFile) -> dict[str, str] | None:
    """The case file's vault sealed again under the active key, bound to what it was bound to
    (its ``aad`` marker kept); ``None`` when it is under the active key already."""
    if case.vault.get("key_id") == keyring.active:
        return None
    return case.vault | keyring.seal(open_subject(keyring, case), context_of(case)).to_dict()
