"""The intake service: ``encounters.reported`` (reports, corrections, withdrawals) in,
``cases.opened`` (opened, corrected, withdrawn) and alerts out; and the identity path, the
one way a person's identity leaves the vault (``GET /internal/v1/cases/{case_id}/person`` on
the ops port, over intake's own read model of who holds each case: ``referrals.events`` and
``cases.opened`` in, every read on ``audit.events``).

Run it with ``faststream run --factory services.intake.app:create_app``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from aiokafka import ConsumerRecord
from faststream import FastStream
from pymongo import IndexModel
from starlette.routing import Route

from shared import disclosure
from shared.audit import AuditTrail
from shared.contracts.audit import AuditRecorded
from shared.contracts.common import IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN, REGION_PATTERN
from shared.contracts.consents import CONSENT_EVENTS
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, EncounterReported, EncounterWithdrawn
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn, EncounterUnprocessable
from shared.contracts.referrals import REFERRAL_EVENTS
from shared.contracts.support import ServiceCompleted, ServiceDeclined, ServiceRequestSent
from shared.credentials import Credential, vault_reader_credential
from shared.crypto import KeyRing
from shared.errors import describe, kind
from shared.kit import Clock, Inbound
from shared.kit.decision import Decide, Pure
from shared.kit.ports import Backend, Publisher
from shared.kit.service import Service, process_app
from shared.kit.workflow import Workflow
from shared.settings import Settings

from . import consents, disclosures, domain, holders, identity, legacy, vault
from .state import CaseFile

_ID = re.compile(IDENTIFIER_PATTERN)
_REGION = re.compile(REGION_PATTERN)


@dataclass(frozen=True)
class SealingDecision:
    """Encryption is not pure (a random nonce), so each batch's reported subjects are sealed
    before ``decide`` (a withdrawal carries none)."""

    keyring: KeyRing

    async def for_batch(self, events: Sequence[Inbound]) -> Decide[CaseFile]:
        sealed = {e.identity: vault.seal(self.keyring, e.data) for e in events if isinstance(e.data, EncounterReported)}
        return lambda state, event, now: domain.decide(state, event, now, sealed=sealed.get(event.identity))


def bootstrap(settings: Settings, *, clock: Clock | None = None, keyring: KeyRing | None = None,
              ops_port: int | None = None, backend: Backend | None = None,
              publisher: Publisher | None = None) -> Service:
    service = Service("intake", settings, clock=clock, ops_port=ops_port, backend=backend, publisher=publisher,
                      description="Opens one case per reported encounter; keeps the person's "
                                  "identity only in its encrypted vault, read only by the specialist "
                                  "who accepted the case, every read audited.")
    keyring = keyring or KeyRing.from_settings(settings)
    credential = Credential(vault_reader_credential(settings))  # production: set, or no start
    cases = service.workflow(
        "cases", CaseFile, SealingDecision(keyring),
        aggregate_id=lambda e: domain.aggregate_of(e.data),
        indexes=[IndexModel("state.case_id", name=legacy.CASE_ID_INDEX, unique=True)],
    )

    async def rekey_legacy_cases() -> None:
        if await legacy.rekey(service.db["cases"], service.db["meta"]):
            await cases.store.ensure_indexes()

    service.on_startup(rekey_legacy_cases)
    service.consume(EncounterReported, EncounterWithdrawn, handler=cases,
                    on_invalid=partial(unprocessable, clock=service.clock))
    service.produces(CaseOpened, CaseCorrected, CaseWithdrawn, EncounterUnprocessable)
    held = serve_identities(service, cases, keyring, credential)
    kept = keep_consents(service)
    serve_disclosures(service, settings, cases, held, kept, keyring, credential)
    return service


def keep_consents(service: Service) -> Workflow[consents.CaseConsents]:
    """The person's consents to disclose (``consents.recorded``, ``consents.revoked``): the
    vault's owner is the one to ask whether a recipient may see a scope (P2); and
    ``consents.events``, a consent about to lapse and one that lapsed, on its durable timers."""
    policy = consents.Policy.from_settings(service.settings.intake)
    kept = service.workflow(consents.COLLECTION, consents.CaseConsents, Pure(partial(consents.decide, policy=policy)),
                            aggregate_id=lambda e: e.data.case_id)
    service.consume(ConsentRecorded, handler=kept)
    service.consume(ConsentRevoked, handler=kept)
    service.produces(*CONSENT_EVENTS)
    return kept


def serve_disclosures(service: Service, settings: Settings, cases: Workflow[CaseFile], held: Workflow[holders.Holding],
                      kept: Workflow[consents.CaseConsents], keyring: KeyRing, credential: Credential) -> None:
    """The service requests sent (``services.events``), and the endpoint a provider's
    disclosure link reads through: exactly what a consent in force lets it see (P2)."""
    sent = service.workflow(disclosures.COLLECTION, disclosures.SentRequest, Pure(disclosures.decide),
                            aggregate_id=lambda e: e.data.service_request_id)
    service.consume(ServiceRequestSent, ServiceDeclined, ServiceCompleted, handler=sent,
                    description="`casework.service.request_sent.v1`, `…declined.v1`, `…completed.v1`: the "
                                "service requests a provider's disclosure link belongs to, and whether open")
    reads = disclosures.DisclosureReads(
        credential, disclosure.disclosure_key(settings), sent.store, kept.store, held.settled_reads(), cases.store,
        keyring,
        AuditTrail(service.publisher, source=service.source, clock=service.clock), service.clock)
    service.route(Route(disclosures.PATH, reads.answer, methods=["GET"]))


def serve_identities(service: Service, cases: Workflow[CaseFile], keyring: KeyRing,
                     credential: Credential) -> Workflow[holders.Holding]:
    """Who holds each case (folded from the referral service's word and intake's own openings
    and withdrawals), and the endpoint that reads an identity for its holder alone."""
    held = service.workflow(holders.COLLECTION, holders.Holding, Pure(holders.decide),
                            aggregate_id=lambda e: e.data.case_id, gather=service.settings.intake.holder_gather_seconds)
    service.consume(*REFERRAL_EVENTS, handler=held)
    service.consume(CaseOpened, CaseWithdrawn, handler=held,
                    description="`casework.case.opened.v1`, `casework.case.withdrawn.v1`: which case file a "
                                "case is, and whether its agency withdrew it (who holds it: referrals.events)")
    service.produces(AuditRecorded)
    reads = identity.IdentityReads(credential, held.settled_reads(), cases.store, keyring,
                                   AuditTrail(service.publisher, source=service.source, clock=service.clock))
    service.route(Route(identity.PATH, reads.answer, methods=["GET"]))
    return held


def create_app(settings: Settings | None = None) -> FastStream:
    """The process entry point (``faststream run --factory``)."""
    settings = settings or Settings()
    return process_app(bootstrap, settings, ops_port=settings.intake.ops_port)


def unprocessable(record: ConsumerRecord, error: BaseException, *, clock: Clock) -> list[EncounterUnprocessable]:
    """An encounter nobody can read still alerts the on-duty supervisors: a person may be waiting.

    A withdrawal that cannot be applied is only dead-lettered: nobody waits for help on it, and
    an "encounter unprocessable" alert would say otherwise.
    """
    if _is_withdrawal(record.value):
        return []
    hints = _readable_hints(record.value)
    return [EncounterUnprocessable(
        alert_id=f"unprocessable-{record.topic}-{record.partition}-{record.offset}".replace(".", "_"),
        agency_id=hints.get("agency_id"), region=hints.get("region"), encounter_id=hints.get("encounter_id"),
        source=f"{record.topic}/{record.partition}/{record.offset}", error_type=kind(error)[:500],
        error=describe(error)[:500], received_at=clock.now(),
    )]


def _is_withdrawal(value: bytes | None) -> bool:
    try:
        return bool(json.loads(value or b"").get("type") == EncounterWithdrawn.TYPE)
    except (ValueError, AttributeError, TypeError, RecursionError):
        return False


def _readable_hints(value: bytes | None) -> dict[str, str]:
    """The agency, region and encounter id, when they can be read and look like ids."""
    try:
        data = json.loads(value or b"").get("data") or {}
        candidates = {"agency_id": (data.get("agency") or {}).get("id"), "region": data.get("region"),
                      "encounter_id": data.get("encounter_id")}
    except (ValueError, AttributeError, TypeError, RecursionError):
        return {}
    checks = {"agency_id": _is_identifier, "region": _is_region, "encounter_id": _is_identifier}
    return {k: v for k, v in candidates.items() if isinstance(v, str) and checks[k](v)}


# fullmatch, as the contract checks: with match, "$" would also let a trailing line feed through.
def _is_identifier(value: str) -> bool:
    return len(value) <= IDENTIFIER_MAX_LENGTH and _ID.fullmatch(value) is not None


def _is_region(value: str) -> bool:
    return _REGION.fullmatch(value) is not None
