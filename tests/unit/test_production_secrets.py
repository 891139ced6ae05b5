"""In production every service refuses to start without each secret it needs, or with a
development one, and names the variable (shared/environment.py)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from services.status.access import Role, dev_tokens, new_token
from shared.credentials import vault_reader_credential
from shared.crypto import KeyRing, VaultKeyError, new_key
from shared.disclosure import disclosure_key
from shared.settings import IntakeSettings, NotifySettings, Settings, StatusSettings
from shared.webhooks import signing_key

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
# What each service needs set in production; a service not named needs no secret.
NEEDS: dict[str, tuple[str, ...]] = {
    "intake": ("CASEWORK_PII_KEYS", "CASEWORK_PII_ACTIVE_KEY_ID", "CASEWORK_VAULT_READER_TOKEN",
               "CASEWORK_DISCLOSURE_KEY"),
    "notify": ("CASEWORK_WEBHOOK_SIGNING_KEY", "CASEWORK_DISCLOSURE_KEY", "CASEWORK_SMTP_STARTTLS",
               "CASEWORK_DASHBOARD_URL"),
    "status": ("CASEWORK_DASHBOARD_TOKENS", "CASEWORK_VAULT_READER_TOKEN"),
}
MISSING = [(service, variable) for service in SERVICES for variable in NEEDS.get(service, ())]
# The secrets a development run generates, and that production must not be given.
GENERATED = ("CASEWORK_PII_KEYS", "CASEWORK_VAULT_READER_TOKEN", "CASEWORK_DISCLOSURE_KEY",
             "CASEWORK_WEBHOOK_SIGNING_KEY", "CASEWORK_DASHBOARD_TOKENS")
COPIED = [(service, variable) for service, variable in MISSING if variable in GENERATED]
DEV_PATHS = {"CASEWORK_DEV_KEYRING_PATH": "keyring.json", "CASEWORK_DEV_VAULT_READER_TOKEN_PATH": "reader",
             "CASEWORK_DEV_DISCLOSURE_KEY_PATH": "disclosure", "CASEWORK_DEV_WEBHOOK_KEY_PATH": "webhook",
             "CASEWORK_DEV_DASHBOARD_TOKENS_PATH": "tokens.json"}


def production_environment() -> dict[str, str]:
    """Everything production needs, each secret of its own."""
    _, supervisor = new_token("sup-tx", Role.SUPERVISOR, ["TX-DPS"])
    return {"CASEWORK_ENVIRONMENT": "production",
            "CASEWORK_PII_KEYS": json.dumps({"2026-01": new_key()}), "CASEWORK_PII_ACTIVE_KEY_ID": "2026-01",
            "CASEWORK_VAULT_READER_TOKEN": "cwv_production-reader", "CASEWORK_DISCLOSURE_KEY": "production-disclosure",
            "CASEWORK_WEBHOOK_SIGNING_KEY": "production-signing", "CASEWORK_SMTP_STARTTLS": "true",
            "CASEWORK_DASHBOARD_URL": "https://casework.example.org",
            "CASEWORK_DASHBOARD_TOKENS": json.dumps([supervisor.model_dump(mode="json")])}


@pytest.fixture
def spare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Development secrets, when any are generated, go to a directory of the test's own."""
    for name, file in DEV_PATHS.items():
        monkeypatch.setenv(name, str(tmp_path / file))
    return tmp_path


def built(service: str, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service as its process would build it at start, from exactly this environment."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return importlib.import_module(f"services.{service}.app").bootstrap(Settings())


def generated_secrets(spare: Path) -> dict[str, str]:
    """The development secrets, as a development run generates them, as variables would carry them."""
    settings = Settings(environment="development",
                        intake=IntakeSettings(dev_keyring_path=spare / "keyring.json",
                                              dev_vault_reader_token_path=spare / "reader",
                                              dev_disclosure_key_path=spare / "disclosure"),
                        notify=NotifySettings(dev_webhook_key_path=spare / "webhook"),
                        status=StatusSettings(dev_dashboard_tokens_path=spare / "tokens.json"))
    KeyRing.from_settings(settings)
    ring = json.loads((spare / "keyring.json").read_text())
    return {"CASEWORK_PII_KEYS": json.dumps(ring["keys"]), "CASEWORK_PII_ACTIVE_KEY_ID": ring["active"],
            "CASEWORK_VAULT_READER_TOKEN": vault_reader_credential(settings),
            "CASEWORK_DISCLOSURE_KEY": disclosure_key(settings).decode(),
            "CASEWORK_WEBHOOK_SIGNING_KEY": signing_key(settings),
            "CASEWORK_DASHBOARD_TOKENS": json.dumps(dev_tokens(settings)["principals"])}


@pytest.mark.usefixtures("spare")
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_starts_in_production_with_its_secrets(service: str, monkeypatch: pytest.MonkeyPatch,
                                                            spare: Path) -> None:
    built(service, production_environment(), monkeypatch)
    assert sorted(p.name for p in spare.iterdir()) == []  # nothing of development generated


@pytest.mark.parametrize(("service", "variable"), MISSING)
def test_production_without_a_secret_refuses_to_start_naming_it(service: str, variable: str, spare: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(variable, raising=False)
    environ = {k: v for k, v in production_environment().items() if k != variable}
    with pytest.raises(Exception, match=variable):
        built(service, environ, monkeypatch)
    assert sorted(p.name for p in spare.iterdir()) == []  # and generates no development one instead


@pytest.mark.parametrize(("service", "variable"), MISSING)
def test_a_blank_secret_is_a_missing_one(service: str, variable: str, spare: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    blank = {"CASEWORK_SMTP_STARTTLS": "false", "CASEWORK_DASHBOARD_URL": "http://casework.example.org"}.get(
        variable, " ")
    with pytest.raises(Exception, match=variable):
        built(service, production_environment() | {variable: blank}, monkeypatch)


@pytest.mark.parametrize(("service", "variable"), COPIED)
def test_production_given_a_development_secret_refuses_to_start_naming_it(service: str, variable: str, spare: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    copied = generated_secrets(spare)
    given = {variable: copied[variable]} | (
        {"CASEWORK_PII_ACTIVE_KEY_ID": copied["CASEWORK_PII_ACTIVE_KEY_ID"]} if variable == "CASEWORK_PII_KEYS" else {})
    with pytest.raises(Exception, match=f"{variable} is the development secret"):
        built(service, production_environment() | given, monkeypatch)


def test_a_ring_with_one_development_key_among_its_own_is_refused_in_production(spare: Path) -> None:
    development = json.loads(generated_secrets(spare)["CASEWORK_PII_KEYS"])
    keys = json.dumps({"2026-01": new_key()} | development)
    settings = Settings(environment="production", intake=IntakeSettings(pii_keys=keys, pii_active_key_id="2026-01"))
    with pytest.raises(VaultKeyError, match="CASEWORK_PII_KEYS is the development secret"):
        KeyRing.from_settings(settings)


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_active_key_is_named_in_every_mode_never_the_first_by_chance(environment: str, spare: Path) -> None:
    keys = json.dumps({"2026-01": new_key(), "2027-01": new_key()})
    for active in (None, "", " "):
        settings = Settings(environment=environment, intake=IntakeSettings(pii_keys=keys, pii_active_key_id=active))
        with pytest.raises(VaultKeyError, match=r"CASEWORK_PII_ACTIVE_KEY_ID must name .*'2026-01', '2027-01'"):
            KeyRing.from_settings(settings)
    with pytest.raises(VaultKeyError, match="CASEWORK_PII_ACTIVE_KEY_ID names '2026-01', but CASEWORK_PII_KEYS"):
        KeyRing.from_settings(Settings(environment=environment, intake=IntakeSettings(pii_active_key_id="2026-01")))
    assert not (spare / "keyring.json").exists()  # neither falls back to the development ring


@pytest.mark.usefixtures("spare")
def test_development_on_loopback_starts_every_service_without_secrets_or_starttls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for service in SERVICES:
        built(service, {"CASEWORK_ENVIRONMENT": "development", "CASEWORK_SMTP_STARTTLS": "false"}, monkeypatch)
