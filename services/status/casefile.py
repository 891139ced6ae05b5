"""One case from the read model, as the case page, the API and ``casework case show`` give it.

A lookup by ``_id`` only (pushed down to SQLite by FerretDB, an index hit on MongoDB).
Every read is audited: who, which case, how; never anything about the person (P3).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared import logging as caselog

from . import domain
from .state import CaseView

log = caselog.get_logger("casework.status.audit")
COLLECTION = "cases"


async def load(collection: AsyncCollection, case_id: str) -> CaseView | None:
    """The case's view, or None when unknown or not opened yet (no snapshot to show)."""
    doc = await collection.find_one({"_id": case_id}, {"state": 1})
    if not doc or not doc.get("state"):
        return None
    view = CaseView.model_validate(doc["state"])
    return view if view.opened is not None else None


def document(view: CaseView) -> dict[str, Any]:
    """The snapshot as published, the timeline, and the read model's own timings."""
    return {
        "case": domain.snapshot(view),
        "first_assigned_at": view.referral.first_assigned_at.isoformat() if view.referral.first_assigned_at else None,
        "timeline": [m.model_dump(mode="json") for m in reversed(view.timeline)],
    }


def audit(case_id: str, *, viewer: str, role: str, via: str, allowed: bool = True) -> None:
    """``case viewed``: ids and roles only (the read model holds no PII anyway)."""
    log.info("case viewed" if allowed else "case view refused", case_id=case_id, viewer=viewer,
             role=role, via=via)
