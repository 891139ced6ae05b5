"""The intake aggregate as stored: one case file per encounter (its agency and encounter id)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from shared.contracts.common import Priority
from shared.contracts.inbound import WithdrawalReason


class CaseFile(BaseModel):
    """The intake aggregate, one per encounter (its agency and the agency's encounter id).

    ``vault`` is the one sealed copy of the person's identity: the one of the latest
    ``revision``. A correction replaces it, and the earlier sealed version is gone with the
    write (docs/design.md, Case life: corrections).
    """

    case_id: str
    encounter_id: str
    agency_id: str
    region: str
    opened_at: datetime
    opened_by_event: str
    priority: Priority
    minor: bool  # as the latest revision shows
    vault: dict[str, str]  # the sealed subject of ``revision``: key id, nonce, ciphertext
    reports: int = 1  # how many times the agency reported this encounter (corrections included)
    revision: int = 0  # the highest revision applied (cases opened before revisions: 0)
    minor_shown: bool = False  # some revision applied so far showed a minor (see ``showed_minor``)
    corrected_at: datetime | None = None
    withdrawn: WithdrawalReason | None = None
    withdrawn_at: datetime | None = None

    @property
    def showed_minor(self) -> bool:
        """Whether any revision so far showed a minor (files stored before ``minor_shown``: ``minor``)."""
        return self.minor_shown or self.minor
