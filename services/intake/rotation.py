"""Key rotation: every case file's vault sealed again under the active key, so an older key
can leave ``CASEWORK_PII_KEYS`` (``casework keys rotate``; README, Operating it).

Intake's case files are aggregates (:mod:`shared.kit.store`): each write is guarded by the
document's ``version``. A re-seal is one such write, and touches the vault alone: it sets
``state.vault`` and moves the version on, over the version it read. Moving the version is
what makes it safe while intake runs: a decision intake made from the state before (the old
sealed copy in it) no longer matches and is made again from the re-sealed state, instead of
writing the old copy back; a re-seal that finds the document changed reads it again and
retries. Nothing else in the document changes (its outbox, seen ids, timers and the writer's
stamp stay as they were). The pass is idempotent: a vault under the active key is left alone,
so a second run re-seals nothing.

Documents are read one by one by ``_id`` (FerretDB pushes only an ``_id`` lookup down); only
the list of ids and the closing count of key ids read the whole collection, as operator
tools may. The count is what says whether an old key is still needed: a case opened or
corrected during the pass by an intake still sealing with an older key shows there.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection

from shared.crypto import KeyRing, VaultKeyError
from shared.mongo import chunks

from .state import CaseFile
from .vault import resealed

Doc = dict[str, Any]
CASES = "cases"  # intake's case files (services/intake/app.py)
AT_ONCE = 8  # documents re-sealed concurrently
ATTEMPTS = 10  # reads and guarded writes of one document before it is left for the next run
UNSEALED = "(none)"  # a document with no vault (an aggregate without state)


@dataclass
class Rotation:
    """What one pass did, and which key ids the case files are sealed under after it."""

    active: str
    ring: list[str]
    resealed: Counter[str] = field(default_factory=Counter)  # per key id they were sealed under
    current: int = 0  # under the active key already
    unopenable: dict[str, str] = field(default_factory=dict)  # document id -> why (never the content)
    busy: list[str] = field(default_factory=list)  # changed under every attempt: run again
    conflicts: int = 0  # guarded writes that found the document changed, and were retried
    in_use: Counter[str] = field(default_factory=Counter)  # key id -> case files sealed under it, after

    @property
    def still_needed(self) -> list[str]:
        """Key ids other than the active one that some case file is still sealed under."""
        return sorted(k for k in self.in_use if k not in (self.active, UNSEALED))

    @property
    def removable(self) -> list[str]:
        """Key ids of the ring no case file is sealed under any more: they may leave ``CASEWORK_PII_KEYS``."""
        return [k for k in self.ring if k != self.active and k not in self.in_use]

    @property
    def complete(self) -> bool:
        return not (self.still_needed or self.unopenable or self.busy)


def key_id_of(doc: Doc) -> str:
    vault = (doc.get("state") or {}).get("vault") or {}
    return str(vault.get("key_id", UNSEALED))


async def key_usage(cases: AsyncCollection[Doc]) -> Counter[str]:
    """How many case files are sealed under each key id (one read of the whole collection)."""
    return Counter([key_id_of(d) async for d in cases.find({}, {"state.vault.key_id": 1})])


async def reseal_one(cases: AsyncCollection[Doc], keyring: KeyRing, doc_id: str, report: Rotation) -> None:
    """Seal one case file's vault again under the active key: a guarded write, retried on conflict."""
    for _ in range(ATTEMPTS):
        doc = await cases.find_one({"_id": doc_id})
        if doc is None or not doc.get("state"):
            return  # gone, or an aggregate with nothing sealed
        try:
            case = CaseFile.model_validate(doc["state"])
            vault = resealed(keyring, case)
        except (VaultKeyError, ValidationError) as exc:
            report.unopenable[doc_id] = str(exc) if isinstance(exc, VaultKeyError) else "not a readable case file"
            return
        if vault is None:
            report.current += 1
            return
        written = await cases.update_one({"_id": doc_id, "version": doc["version"]},
                                         {"$set": {"state.vault": vault}, "$inc": {"version": 1}})
        if written.matched_count:
            report.resealed[key_id_of(doc)] += 1
            return
        report.conflicts += 1  # intake wrote it meanwhile: read it again
    report.busy.append(doc_id)


async def rotate(cases: AsyncCollection[Doc], keyring: KeyRing) -> Rotation:
    """Re-seal every case file not under the active key, then count the key ids in use."""
    report = Rotation(keyring.active, keyring.key_ids)
    ids = [d["_id"] async for d in cases.find({}, {"_id": 1})]
    for chunk in chunks(ids, AT_ONCE):
        await asyncio.gather(*(reseal_one(cases, keyring, i, report) for i in chunk))
    report.in_use = await key_usage(cases)
    return report
