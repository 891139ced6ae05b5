"""The webhook signature: what casework sends and what a receiver checks (shared/webhooks.py)."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import pytest

from shared.settings import NotifySettings, Settings
from shared.webhooks import (
    SignatureError,
    new_signing_key,
    parse,
    recipient_secret,
    recipient_secrets,
    sign,
    sign_each,
    signing_key,
    signing_keys,
    verify,
)

SECRET = "b3f1c0de" * 8
BODY = b'{"case_id":"case-1","kind":"referral_assigned"}'
NOW = 1_767_600_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert verify(SECRET, BODY, header, now=NOW + 5) == NOW


@pytest.mark.parametrize("body", [BODY.replace(b"case-1", b"case-2"), BODY + b" ", b""])
def test_a_tampered_body_fails(body: bytes) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, body, sign(SECRET, BODY, NOW), now=NOW)


def test_a_tampered_timestamp_fails() -> None:
    header = sign(SECRET, BODY, NOW).replace(f"t={NOW}", f"t={NOW + 60}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, header, now=NOW + 60)


def test_an_old_or_future_timestamp_fails_even_when_signed_right() -> None:
    header = sign(SECRET, BODY, NOW)
    verify(SECRET, BODY, header, now=NOW + 300)  # at the edge of the default tolerance
    with pytest.raises(SignatureError, match="from now"):
        verify(SECRET, BODY, header, now=NOW + 301)  # a replay five minutes later
    with pytest.raises(SignatureError, match="from now"):
        verify(SECRET, BODY, header, now=NOW - 301)
    verify(SECRET, BODY, header, now=NOW + 3600, tolerance=3601)


def test_another_recipients_secret_fails() -> None:
    key = new_signing_key()
    header = sign(recipient_secret(key, "spec-a"), BODY, NOW)
    verify(recipient_secret(key, "spec-a"), BODY, header, now=NOW)
    with pytest.raises(SignatureError):
        verify(recipient_secret(key, "spec-b"), BODY, header, now=NOW)
    with pytest.raises(SignatureError):
        verify(recipient_secret(new_signing_key(), "spec-a"), BODY, header, now=NOW)


@pytest.mark.parametrize("header", ["", "v1=abc", f"t={NOW}", "t=soon,v1=abc", f"t={NOW},v0=abc", "garbage"])
def test_malformed_headers_fail(header: str) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, header, now=NOW)


def test_any_of_several_signatures_may_match_during_a_secret_change() -> None:
    old, new = sign("old-secret", BODY, NOW), sign(SECRET, BODY, NOW)
    header = f"{new},{old.split(',')[1]}"
    assert parse(header)[0] == NOW and len(parse(header)[1]) == 2
    verify("old-secret", BODY, header, now=NOW)
    verify(SECRET, BODY, header, now=NOW)


def test_during_a_rotation_the_header_carries_the_new_signature_first_then_the_previous() -> None:
    new_key, previous_key = new_signing_key(), new_signing_key()
    new, previous = recipient_secrets([new_key, previous_key], "spec-a")
    assert (new, previous) == (recipient_secret(new_key, "spec-a"), recipient_secret(previous_key, "spec-a"))
    header = sign_each([new, previous], BODY, NOW)
    digest = {s: hmac.new(s.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest() for s in (new, previous)}
    assert header == f"t={NOW},v1={digest[new]},v1={digest[previous]}"
    assert verify(new, BODY, header, now=NOW) == verify(previous, BODY, header, now=NOW) == NOW
    for wrong in (recipient_secret(new_key, "spec-b"), recipient_secret(new_signing_key(), "spec-a")):
        with pytest.raises(SignatureError, match="does not match"):
            verify(wrong, BODY, header, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(previous, BODY.replace(b"case-1", b"case-2"), header, now=NOW)
    assert sign_each([new], BODY, NOW) == sign(new, BODY, NOW)
    with pytest.raises(ValueError, match="at least one"):
        sign_each([], BODY, NOW)


def test_the_previous_signing_key_signs_too_until_it_is_unset(tmp_path) -> None:
    path = tmp_path / "webhook-key"
    rotating = NotifySettings(webhook_signing_key="new", webhook_previous_signing_key="old", dev_webhook_key_path=path)
    assert signing_keys(Settings(notify=rotating)) == ["new", "old"]
    settled = NotifySettings(webhook_signing_key="new", dev_webhook_key_path=path)
    assert signing_keys(Settings(notify=settled)) == ["new"]
    same = NotifySettings(webhook_signing_key="new", webhook_previous_signing_key="new", dev_webhook_key_path=path)
    assert signing_keys(Settings(notify=same)) == ["new"]  # one signature, not the same one twice
    with pytest.raises(RuntimeError, match="CASEWORK_WEBHOOK_SIGNING_KEY"):  # a previous key alone is not a key
        signing_keys(Settings(environment="production", notify=NotifySettings(
            webhook_previous_signing_key="old", dev_webhook_key_path=path)))


def test_secrets_are_derived_per_recipient_and_stable() -> None:
    key = new_signing_key()
    assert recipient_secret(key, "spec-a") == recipient_secret(key, "spec-a")
    assert recipient_secret(key, "spec-a") != recipient_secret(key, "spec-b")
    assert len(recipient_secret(key, "spec-a")) == 64 and key not in recipient_secret(key, "spec-a")


def test_development_signing_key_is_generated_once_and_private(tmp_path) -> None:
    path = tmp_path / "nested" / "webhook-key"
    settings = Settings(notify=NotifySettings(dev_webhook_key_path=path))
    first, second = signing_key(settings), signing_key(settings)
    assert first == second and len(first) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    configured = NotifySettings(webhook_signing_key="configured", dev_webhook_key_path=path)
    assert signing_key(Settings(notify=configured)) == "configured"


def test_production_needs_a_configured_key(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="CASEWORK_WEBHOOK_SIGNING_KEY"):
        signing_key(Settings(environment="production", notify=NotifySettings(dev_webhook_key_path=tmp_path / "k")))
    assert not (tmp_path / "k").exists()
