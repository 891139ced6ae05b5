"""Service credentials: the secret one casework process presents to another over HTTP.

The only one today is the vault reader's: the dashboard presents it to intake to read a
person's identity (docs/design.md, Identity reads). Both sides take it from the same
setting, ``CASEWORK_VAULT_READER_TOKEN``; in development it is generated once under
``.local/`` (mode 0600), so ``make run`` needs no setup; production (``shared.environment``)
refuses to start without it, or with the development one. The receiving side keeps only
the credential's SHA-256 and compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from shared import environment
from shared.devsecrets import generated, generated_once
from shared.settings import Settings

MAX_LENGTH = 512


class CredentialMissing(RuntimeError):
    """A service credential that must be configured is not."""


def new_credential() -> str:
    return "cwv_" + secrets.token_urlsafe(32)


def vault_reader_credential(settings: Settings) -> str:
    """The vault reader's credential: the configured one, else (never in production) the
    development one, generated once."""
    intake = settings.intake
    configured = (intake.vault_reader_token or "").strip()
    if not environment.production(settings):
        return configured or generated_once(intake.dev_vault_reader_token_path, new_credential).strip()
    if not configured:
        raise CredentialMissing(environment.required("CASEWORK_VAULT_READER_TOKEN"))
    if configured == (generated(intake.dev_vault_reader_token_path) or "").strip():
        raise CredentialMissing(environment.copied("CASEWORK_VAULT_READER_TOKEN", intake.dev_vault_reader_token_path))
    return configured


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class Credential:
    """What the receiving side keeps of a credential: its digest, never the secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise CredentialMissing("an empty service credential admits nobody")
        self._digest = _digest(secret)

    def admits(self, presented: str | None) -> bool:
        """Whether ``presented`` is the credential (the digests compared in constant time)."""
        if not presented or len(presented) > MAX_LENGTH:
            return False
        return hmac.compare_digest(_digest(presented), self._digest)


def bearer(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header, if it is one."""
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
