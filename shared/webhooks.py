"""Signed webhooks: how casework signs each POST, and how a receiver checks it.

Every notification webhook is an HTTP POST of a JSON body with two headers:

* ``Idempotency-Key: <notification id>:<recipient hash>`` -- the same on every retry of
  one delivery, so a receiver that stored it can drop the rare duplicate.
* ``X-Casework-Signature: t=<unix seconds>,v1=<hex>`` -- ``<hex>`` is the HMAC-SHA256, keyed
  with the recipient's secret (its UTF-8 bytes), of the ASCII timestamp, a dot, and the raw
  body bytes exactly as received: ``HMAC(secret, f"{t}.".encode() + body)``. While the
  operator rotates the signing key the header carries two: ``t=<t>,v1=<new>,v1=<previous>``,
  one per secret; a request is genuine when any ``v1`` matches the receiver's secret.

A receiver gets its secret from the operator (``casework webhook secret RECIPIENT_ID``) and
checks every request before trusting it: the signature must match and ``t`` must be recent
(five minutes by default), which defeats tampering and replays of old requests. Verify the
raw bytes, before any JSON parsing. For example, in a Python receiver::

    from shared.webhooks import SIGNATURE_HEADER, SignatureError, verify

    def receive(body: bytes, headers: dict[str, str]) -> int:
        try:
            verify(SECRET, body, headers[SIGNATURE_HEADER])
        except (KeyError, SignatureError):
            return 401                     # not from casework, altered, or too old
        if already_handled(headers["Idempotency-Key"]):
            return 200                     # a retry of something already handled
        handle(json.loads(body))
        return 200

Without Python, the same check from a shell (compare the output with each ``v1`` value)::

    printf '%s.%s' "$T" "$BODY" | openssl dgst -sha256 -hmac "$SECRET"

When the operator rotates the signing key, every receiver gets a new secret: for a while
each request is signed with both the new and the previous one, so a receiver switches to its
new secret whenever it likes, and the previous one stops working once the operator removes
the previous key (README, Webhooks for receivers).

Answer 2xx once the notification is stored. Any other answer, a timeout or a refused
connection is retried with backoff under the same ``Idempotency-Key``; 4xx other than 408
and 429 is final.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the helpers above stay importable on their own, for receivers
    from shared.settings import Settings

SIGNATURE_HEADER = "X-Casework-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, does not match, or is too old."""


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signature(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Casework-Signature`` value for ``body``, stamped now unless told otherwise."""
    return sign_each([secret], body, timestamp)


def sign_each(secrets: Sequence[str | bytes], body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Casework-Signature`` value with one ``v1`` per secret, in their order (during a
    rotation: the new secret's first, then the previous one's)."""
    if not secrets:
        raise ValueError("a webhook is signed with at least one secret")
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"{SCHEME}={signature(s, body, t)}" for s in secrets)])


def parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and every ``v1`` signature of a header (several during a secret change)."""
    timestamp, found = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == SCHEME and value:
            found.append(value)
    if timestamp is None or not found:
        raise SignatureError("the signature header needs t=<unix seconds> and v1=<hex>")
    return timestamp, found


def verify(secret: str | bytes, body: bytes, header: str, *,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> int:
    """Check a request; return its timestamp, or raise :class:`SignatureError`.

    ``now`` is the receiver's clock (``time.time()`` by default); a timestamp further than
    ``tolerance`` seconds from it, in either direction, is refused.
    """
    timestamp, candidates = parse(header)
    expected = signature(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("the signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"the signature timestamp is more than {tolerance:g} s from now")
    return timestamp


def recipient_secret(signing_key: str | bytes, recipient_id: str) -> str:
    """A recipient's own webhook secret, derived from the service's signing key.

    Nothing per recipient is stored or sent on Kafka: the operator hands this to the
    receiver once, and a new signing key changes every recipient's secret at once.
    """
    return hmac.new(_key(signing_key), f"casework-webhook/v1/{recipient_id}".encode(),
                    hashlib.sha256).hexdigest()


def new_signing_key() -> str:
    """A fresh signing key, for ``CASEWORK_WEBHOOK_SIGNING_KEY``."""
    return secrets.token_hex(32)


def signing_key(settings: Settings) -> str:
    """The signing key from ``CASEWORK_WEBHOOK_SIGNING_KEY``; generated once in development,
    required in production (and not the development one)."""
    from shared import environment
    from shared.devsecrets import generated, generated_once

    notify = settings.notify
    configured = notify.webhook_signing_key if (notify.webhook_signing_key or "").strip() else None
    if not environment.production(settings):
        return configured or generated_once(notify.dev_webhook_key_path, new_signing_key).strip()
    if configured is None:
        raise RuntimeError(environment.required("CASEWORK_WEBHOOK_SIGNING_KEY"))
    if configured.strip() == (generated(notify.dev_webhook_key_path) or "").strip():
        raise RuntimeError(environment.copied("CASEWORK_WEBHOOK_SIGNING_KEY", notify.dev_webhook_key_path))
    return configured


def signing_keys(settings: Settings) -> list[str]:
    """The keys every webhook is signed with: the signing key, then, during a rotation, the
    previous one (``CASEWORK_WEBHOOK_PREVIOUS_SIGNING_KEY``) that receivers may still hold."""
    current, previous = signing_key(settings), settings.notify.webhook_previous_signing_key
    return [current, previous] if previous and previous != current else [current]


def recipient_secrets(keys: Sequence[str | bytes], recipient_id: str) -> list[str]:
    """A recipient's secret under each key, in the keys' order (what its webhooks are signed with)."""
    return [recipient_secret(key, recipient_id) for key in keys]
