"""The identity path: the one way a person's identity leaves the vault (docs/design.md, Identity reads).

``GET /internal/v1/cases/{case_id}/person`` on intake's ops port. The caller is a casework
service (the dashboard) presenting the vault reader's credential
(``Authorization: Bearer``); the person it acts for is in ``X-Casework-Actor-Id`` and
``X-Casework-Actor-Role`` (``X-Casework-Via``, optional, names the caller's channel). Only
the specialist who accepted the case's current referral, while the case is open, reads
(:func:`.holders.refusal`). Every answer but a 503 is recorded on ``audit.events`` before it
is given; when the record cannot be written the answer is 503 and nothing is shown.

The identity goes only into the one response: never into a log line (ids and codes only),
an error text, an event or another database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared import logging as caselog
from shared.audit import AuditTrail, as_identifier
from shared.contracts.audit import AuditAction, AuditOutcome, AuditRole
from shared.credentials import Credential, bearer
from shared.crypto import KeyRing, VaultKeyError
from shared.errors import kind
from shared.kit.ports import AggregateStore, Loads

from . import holders, vault
from .holders import Holding, Refusal
from .state import CaseFile

PATH = "/internal/v1/cases/{case_id:path}/person"  # any text: a case id that is no id is refused like the rest
VIA = "intake_vault"
ACTOR_ID, ACTOR_ROLE, CHANNEL = "x-casework-actor-id", "x-casework-actor-role", "x-casework-via"
# The dashboard's roles: whom the dashboard may act for (a provider reads through its link,
# an operator through the casework tools; neither through this path).
ROLES = frozenset({AuditRole.SPECIALIST.value, AuditRole.SUPERVISOR.value, AuditRole.ANALYST.value,
                   AuditRole.AUDITOR.value})
AUDIT_SECONDS = 5.0  # the broker must have the record by then, or nothing is shown
REFUSED = "this identity is not readable by this actor"  # every refusal alike: existence does not leak
NO_STORE = {"Cache-Control": "no-store"}

log = caselog.get_logger("casework.intake.identity")


class Unanswerable(Exception):
    """The read cannot be decided or recorded now (database, broker or key ring): a 5xx, nothing shown."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class IdentityReads:
    """The endpoint, over intake's holders read model, its case files and its key ring."""

    credential: Credential
    holders: Loads  # waits for what the holders workflow received (its gather)
    cases: AggregateStore
    keyring: KeyRing
    audit: AuditTrail

    async def answer(self, request: Request) -> Response:
        case_id = as_identifier(request.path_params.get("case_id"))
        actor_id = as_identifier(request.headers.get(ACTOR_ID))
        role = request.headers.get(ACTOR_ROLE, "")
        channel = as_identifier(request.headers.get(CHANNEL))
        authenticated = self.credential.admits(bearer(request.headers.get("authorization")))
        actor = (actor_id, role) if authenticated and actor_id is not None and role in ROLES else None
        try:
            if actor is None:
                why: str | None = "unknown_actor" if authenticated else "unauthenticated"
                subject = None
            else:
                why, subject = await self.read(case_id, *actor)
            audit_id = await self.record(case_id, actor, granted=subject is not None)
        except Unanswerable as exc:
            log.warning("identity read not answered", case_id=case_id, actor_id=actor_id, status=exc.status,
                        channel=channel)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=NO_STORE)
        log.info("identity read", case_id=case_id, actor_id=actor_id, role=role if role in ROLES else None,
                 outcome="granted" if subject is not None else "refused", refusal=why, audit_id=audit_id,
                 channel=channel)
        if not authenticated:
            return JSONResponse({"detail": "a valid service credential is required"}, status_code=401,
                                headers=NO_STORE | {"WWW-Authenticate": "Bearer"})
        if subject is None:
            return JSONResponse({"detail": REFUSED}, status_code=403, headers=NO_STORE)
        return JSONResponse({"case_id": case_id, "person": subject, "audit_id": audit_id}, headers=NO_STORE)

    async def read(self, case_id: str | None, actor_id: str, role: str) -> tuple[Refusal | None, dict[str, Any] | None]:
        """Why this actor may not read the case's identity, or the identity, opened from its case file."""
        holding: Holding | None = await load(self.holders, case_id, Holding) if case_id else None
        why = holders.refusal(holding, actor_id, role)
        if why is not None or holding is None or holding.case_file is None:
            return why or Refusal.UNKNOWN_CASE, None
        subject = await opened_subject(self.cases, self.keyring, holding)
        if subject is None:
            return Refusal.NO_HOLDER, None  # withdrawn here before the withdrawal was folded, or no such file
        return None, subject

    async def record(self, case_id: str | None, actor: tuple[str, str] | None, *, granted: bool) -> str:
        """The read on ``audit.events``, acknowledged by the broker; else nothing is shown."""
        actor_id, role = actor or ("unknown", AuditRole.ANONYMOUS.value)
        return await recorded(self.audit, actor_id=actor_id, role=role, case_id=case_id, via=VIA,
                              action=AuditAction.IDENTITY_READ if granted else AuditAction.IDENTITY_REFUSED,
                              outcome=AuditOutcome.GRANTED if granted else AuditOutcome.REFUSED)



async def recorded(audit: AuditTrail, **fields: Any) -> str:
    """An answer on ``audit.events``, acknowledged by the broker within :data:`AUDIT_SECONDS`;
    else :class:`Unanswerable` (503): what is not recorded is not shown."""
    try:
        record = await asyncio.wait_for(audit.record(**fields), AUDIT_SECONDS)
    except Exception as exc:
        log.warning("read not recorded", case_id=fields.get("case_id"), error_type=kind(exc))
        raise Unanswerable(503, "the read could not be recorded; nothing is shown") from None
    return record.audit_id


async def opened_subject(cases: AggregateStore, keyring: KeyRing, holding: Holding) -> dict[str, Any] | None:
    """The person's sealed subject from the case's file, opened; None if there is no such file
    or it was withdrawn; :class:`Unanswerable` (500) when the key ring cannot open it."""
    if holding.case_file is None:
        return None
    case: CaseFile | None = await load(cases, holding.case_file, CaseFile)
    if case is None or case.case_id != holding.case_id or case.withdrawn is not None:
        return None
    try:
        return vault.open_subject(keyring, case)
    except VaultKeyError as exc:
        log.error("the vault cannot open a case file", case_id=holding.case_id, error_type=kind(exc))
        raise Unanswerable(500, "the vault cannot open this record") from None


async def load(store: Loads, key: str, model: type[Any]) -> Any:
    """One aggregate's state, or None; :class:`Unanswerable` (503) when the database cannot say."""
    try:
        records = await store.load([key])
    except Exception as exc:
        log.warning("read cannot be decided", error_type=kind(exc))
        raise Unanswerable(503, "the vault cannot answer now") from None
    record = records.get(key)
    return model.model_validate(record.state) if record is not None and record.state else None
