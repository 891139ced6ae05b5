"""The intake aggregate as stored: one case file per encounter (its agency and encounter id)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from shared.contracts.common import Priority


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
