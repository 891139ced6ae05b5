"""Encounters recorded before an encounter's identity became ``(agency, encounter id)``.

Earlier versions kept one document per encounter id alone and derived the case id from the
reporting event. Those cases keep their case ids: on the first start of this version their
documents are re-keyed under ``agency|encounter id`` (a one-time pass, recorded in
``meta``), so a later report or correction of the same encounter finds its case.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared import logging as caselog

from .domain import encounter_key

log = caselog.get_logger("casework.intake")
DONE = "encounter-identity-rekeyed"
CASE_ID_INDEX = "case_id"


async def rekey(cases: AsyncCollection[dict[str, Any]], meta: AsyncCollection[dict[str, Any]]) -> int:
    """Move every document keyed by encounter id alone; return how many moved."""
    if await meta.find_one({"_id": DONE}):
        return 0
    legacy = [d async for d in cases.find({}) if "|" not in d["_id"] and d.get("state")]
    if legacy:
        # Old and new copies share their case id for a moment: the unique index comes back after.
        if CASE_ID_INDEX in await cases.index_information():
            await cases.drop_index(CASE_ID_INDEX)
        for doc in legacy:
            await _move(cases, doc)
        log.info("cases re-keyed by agency and encounter id", cases=len(legacy))
    await meta.update_one({"_id": DONE}, {"$set": {"cases": len(legacy)}}, upsert=True)
    return len(legacy)


async def _move(cases: AsyncCollection[dict[str, Any]], doc: dict[str, Any]) -> None:
    key = encounter_key(doc["state"]["agency_id"], doc["state"]["encounter_id"])
    try:
        await cases.insert_one(doc | {"_id": key})
    except DuplicateKeyError:
        pass  # moved already, by a start that stopped before deleting the old copy
    await cases.delete_one({"_id": doc["_id"]})
