"""A provider's disclosure link: a per-request, unguessable capability (docs/design.md, Disclosure).

The capability of a service request is HMAC-SHA256(the disclosure key, its request id and
provider id), 256 bits: notify mints it into the provider's notice, intake checks it (in
constant time) against the request it folded from ``services.events``; nothing stores it.
What a capability admits is decided when it is presented, never when it was minted: the
consents in force then, for that provider (:mod:`shared.consent`). So a revocation or an
expiry closes every open link at once, and a link outlives no consent.

The link is ``{dashboard}/disclosures/{service_request_id}#{capability}``: a URL fragment
never reaches a server, so the capability is in no access log, proxy log or ``Referer``;
the page sends it as ``Authorization: Bearer`` to ``GET /api/disclosures/{id}``, which a
provider's system may also call directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import quote

from shared import environment
from shared.credentials import CredentialMissing
from shared.devsecrets import generated, generated_once
from shared.settings import Settings

PREFIX = "cwd_"  # a disclosure capability, recognisable where one should never be (a log line, a topic)
CONTEXT = b"casework.disclosure.v1"
MAX_LENGTH = 128
PAGE = "/disclosures/{service_request_id}"


def disclosure_key(settings: Settings) -> bytes:
    """The configured key, else (never in production) the development one, generated once;
    production refuses the development one too."""
    intake = settings.intake
    configured = (intake.disclosure_key or "").strip()
    if not environment.production(settings):
        return (configured or generated_once(intake.dev_disclosure_key_path, new_disclosure_key).strip()).encode()
    if not configured:
        raise CredentialMissing(environment.required("CASEWORK_DISCLOSURE_KEY"))
    if configured == (generated(intake.dev_disclosure_key_path) or "").strip():
        raise CredentialMissing(environment.copied("CASEWORK_DISCLOSURE_KEY", intake.dev_disclosure_key_path))
    return configured.encode()


def new_disclosure_key() -> str:
    """A fresh key, for ``CASEWORK_DISCLOSURE_KEY``."""
    return secrets.token_urlsafe(32)


def capability(key: bytes, service_request_id: str, provider_id: str) -> str:
    """The capability of one service request for the provider it went to."""
    mac = hmac.new(key, b"\x00".join((CONTEXT, service_request_id.encode(), provider_id.encode())), hashlib.sha256)
    return PREFIX + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def admits(key: bytes, presented: str | None, service_request_id: str, provider_id: str) -> bool:
    """Whether ``presented`` is that request's capability (compared in constant time)."""
    if not presented or len(presented) > MAX_LENGTH:
        return False
    return hmac.compare_digest(presented.encode(), capability(key, service_request_id, provider_id).encode())


def link(dashboard_url: str, key: bytes, service_request_id: str, provider_id: str) -> str:
    """Where the provider reads what the person consented to share with it."""
    page = PAGE.format(service_request_id=quote(service_request_id, safe=""))
    return f"{dashboard_url.rstrip('/')}{page}#{capability(key, service_request_id, provider_id)}"
