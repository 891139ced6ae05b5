"""The intake vault's encryption: AES-256-GCM with a rotating key ring."""

from __future__ import annotations

import base64
import json

import pytest

from shared.crypto import KeyRing, VaultKeyError, new_key
from shared.settings import IntakeSettings, Settings

SUBJECT = {"person": {"given_name": "Zephyrine"}, "narrative": "Held at the orchard"}


def ring(active: str, **keys: str) -> KeyRing:
    return KeyRing({k: base64.b64decode(v) for k, v in keys.items()}, active)


def test_seal_is_ciphertext_and_opens_with_the_active_key() -> None:
    keys = {"k1": new_key()}
    sealed = ring("k1", **keys).seal(SUBJECT, "case-1")
    assert "Zephyrine" not in json.dumps(sealed.to_dict())
    assert b"Zephyrine" not in base64.b64decode(sealed.ciphertext)
    assert ring("k1", **keys).open(sealed, "case-1") == SUBJECT


def test_rotation_old_records_open_with_the_older_key() -> None:
    old, new = new_key(), new_key()
    sealed_before = ring("k1", k1=old).seal(SUBJECT, "case-1")
    rotated = ring("k2", k1=old, k2=new)
    sealed_after = rotated.seal(SUBJECT, "case-2")
    assert sealed_after.key_id == "k2"
    assert rotated.open(sealed_before, "case-1") == SUBJECT
    assert rotated.open(sealed_after, "case-2") == SUBJECT


def test_wrong_missing_key_or_wrong_case_fails_loudly() -> None:
    sealed = ring("k1", k1=new_key()).seal(SUBJECT, "case-1")
    with pytest.raises(VaultKeyError, match="does not open"):
        ring("k1", k1=new_key()).open(sealed, "case-1")
    with pytest.raises(VaultKeyError, match="no key 'k1'"):
        ring("k9", k9=new_key()).open(sealed, "case-1")
    good = ring("k1", k1=new_key())
    with pytest.raises(VaultKeyError):
        good.open(good.seal(SUBJECT, "case-1"), "case-2")  # bound to its case


def test_ring_from_settings_and_refusals() -> None:
    keys = json.dumps({"a": new_key(), "b": new_key()})
    assert KeyRing.from_settings(Settings(intake=IntakeSettings(pii_keys=keys, pii_active_key_id="b"))).active == "b"
    with pytest.raises(VaultKeyError, match="not in the key ring"):
        KeyRing.from_settings(Settings(intake=IntakeSettings(pii_keys=keys, pii_active_key_id="zz")))
    with pytest.raises(VaultKeyError, match="32"):
        KeyRing({"short": b"x" * 16}, "short")
    with pytest.raises(VaultKeyError, match="production"):
        KeyRing.from_settings(Settings(environment="production"))
    with pytest.raises(VaultKeyError, match="JSON"):
        KeyRing.from_settings(Settings(intake=IntakeSettings(pii_keys="not json")))


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize("active", [None, ""])
def test_the_active_key_must_be_named_never_the_first_one(environment: str, active: str | None) -> None:
    keys = json.dumps({"a": new_key(), "b": new_key()})
    with pytest.raises(VaultKeyError, match="CASEWORK_PII_ACTIVE_KEY_ID"):
        KeyRing.from_settings(Settings(environment=environment,  # type: ignore[arg-type]
                                       intake=IntakeSettings(pii_keys=keys, pii_active_key_id=active)))


def test_development_ring_is_generated_once_private(tmp_path) -> None:
    path = tmp_path / "ring.json"
    first = KeyRing.from_settings(Settings(intake=IntakeSettings(dev_keyring_path=path)))
    second = KeyRing.from_settings(Settings(intake=IntakeSettings(dev_keyring_path=path)))
    assert first.key_ids == second.key_ids and path.stat().st_mode & 0o077 == 0
    assert second.open(first.seal(SUBJECT, "c"), "c") == SUBJECT
