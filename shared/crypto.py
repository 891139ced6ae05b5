"""AES-256-GCM with a key ring: the intake vault's encryption at rest (rule 7, P2).

Keys have ids so they rotate: new data is sealed with the active key, older data opens
with the key its id names. A wrong or missing key fails loudly (``VaultKeyError``), never
silently. The ring comes from ``CASEWORK_PII_KEYS`` (JSON ``{"key id": "base64 key"}``)
and ``CASEWORK_PII_ACTIVE_KEY_ID``; in development a ring is generated once under
``.local/`` so nothing needs setting up.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.devsecrets import generated_once
from shared.settings import Settings

ALGORITHM = "AES-256-GCM"


class VaultKeyError(RuntimeError):
    """The key ring cannot open or seal this data."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: str
    ciphertext: str
    alg: str = ALGORITHM

    def to_dict(self) -> dict[str, str]:
        return {"key_id": self.key_id, "nonce": self.nonce, "ciphertext": self.ciphertext, "alg": self.alg}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Sealed:
        return cls(data["key_id"], data["nonce"], data["ciphertext"], data.get("alg", ALGORITHM))


class KeyRing:
    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise VaultKeyError(f"the active key id {active!r} is not in the key ring")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise VaultKeyError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs 32")
        self._keys = {k: AESGCM(v) for k, v in keys.items()}
        self.active = active

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, document: dict[str, Any], context: str) -> Sealed:
        """Encrypt a JSON document; ``context`` (the case id) is bound as associated data."""
        nonce = os.urandom(12)
        plaintext = json.dumps(document, separators=(",", ":"), default=str).encode()
        ciphertext = self._keys[self.active].encrypt(nonce, plaintext, self._aad(self.active, context))
        return Sealed(self.active, _b64(nonce), _b64(ciphertext))

    def open(self, sealed: Sealed, context: str) -> dict[str, Any]:
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise VaultKeyError(f"no key {sealed.key_id!r} in the key ring to open this record")
        try:
            plaintext = key.decrypt(base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext),
                                    self._aad(sealed.key_id, context))
        except InvalidTag:
            raise VaultKeyError(f"key {sealed.key_id!r} does not open this record (wrong key or altered)") from None
        subject: dict[str, Any] = json.loads(plaintext)
        return subject

    @staticmethod
    def _aad(key_id: str, context: str) -> bytes:
        return f"casework-vault/v1/{key_id}/{context}".encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        vault = settings.intake
        if vault.pii_keys:
            try:
                raw = json.loads(vault.pii_keys)
                keys = {k: base64.b64decode(v, validate=True) for k, v in raw.items()}
            except (ValueError, TypeError, AttributeError) as exc:
                raise VaultKeyError("CASEWORK_PII_KEYS must be JSON {\"key id\": \"base64 32-byte key\"}") from exc
            if not vault.pii_active_key_id:  # named, never guessed: a ring's order says nothing
                ids = ", ".join(repr(k) for k in keys)
                raise VaultKeyError(f"CASEWORK_PII_ACTIVE_KEY_ID must name the key new records are sealed with: "
                                    f"one of {ids}")
            return cls(keys, vault.pii_active_key_id)
        if settings.environment == "production":
            raise VaultKeyError("CASEWORK_PII_KEYS and CASEWORK_PII_ACTIVE_KEY_ID must be set in production")
        return cls._development(vault.dev_keyring_path)

    @classmethod
    def _development(cls, path: Path) -> KeyRing:
        """A local ring generated once (mode 0600), so ``make run`` works with no setup."""
        data = json.loads(generated_once(
            path, lambda: json.dumps({"active": "dev-1", "keys": {"dev-1": new_key()}})))
        return cls({k: base64.b64decode(v) for k, v in data["keys"].items()}, data["active"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def new_key() -> str:
    """A fresh base64 AES-256 key, for ``CASEWORK_PII_KEYS``."""
    return _b64(AESGCM.generate_key(bit_length=256))
