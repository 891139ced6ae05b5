"""Production is the default; development only when asked for, and only on loopback (shared/environment.py)."""

from __future__ import annotations

import io
import json
import re

import pytest

from casework.supervisor import local_environment
from services.referral.app import bootstrap as referral
from shared.environment import UnsafeEnvironment, is_loopback, mode, network_warning, production
from shared.settings import Settings


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``CASEWORK_ENVIRONMENT`` (the tests' own development is taken away)."""
    for name in ("CASEWORK_ENVIRONMENT", "CASEWORK_HTTP_HOST", "CASEWORK_DEVELOPMENT_ON_NETWORK"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("unset")
def test_a_deployment_that_says_nothing_is_production() -> None:
    assert mode(Settings()) == "production" and production(Settings())
    assert mode(Settings(http_host="0.0.0.0")) == "production"
    assert Settings().as_environment()["CASEWORK_ENVIRONMENT"] == "production"  # a subprocess inherits it


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "LOCALHOST", "127.0.0.2"])
def test_development_said_explicitly_on_loopback_is_development(host: str) -> None:
    settings = Settings(environment="development", http_host=host)
    assert mode(settings) == "development" and not production(settings)
    assert network_warning(settings) is None
    assert settings.as_environment()["CASEWORK_ENVIRONMENT"] == "development"  # and so does every subprocess


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "casework.example.org", ""])
def test_development_on_a_network_listener_refuses_naming_the_variables(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(UnsafeEnvironment) as refused:
        mode(Settings(environment="development", http_host=host))
    for variable in ("CASEWORK_ENVIRONMENT", "CASEWORK_HTTP_HOST", "CASEWORK_DEVELOPMENT_ON_NETWORK"):
        assert variable in str(refused.value)


def test_a_service_in_development_on_the_network_does_not_start() -> None:
    with pytest.raises(UnsafeEnvironment, match=re.escape("CASEWORK_HTTP_HOST is '0.0.0.0'")):
        referral(Settings(environment="development", http_host="0.0.0.0"))


def test_a_trial_on_a_private_network_is_allowed_when_said_and_warns_at_every_start(logs: io.StringIO) -> None:
    settings = Settings(environment="development", http_host="0.0.0.0", development_on_network=True)
    assert mode(settings) == "development"
    warning = network_warning(settings)
    assert warning and "CASEWORK_DEVELOPMENT_ON_NETWORK=true" in warning and "0.0.0.0" in warning
    referral(settings)
    said = [json.loads(line) for line in logs.getvalue().splitlines() if "NETWORK LISTENER" in line]
    assert [(line["level"], line["service"]) for line in said] == [("warning", "referral")]


def test_the_network_allowance_changes_nothing_in_production() -> None:
    settings = Settings(environment="production", http_host="0.0.0.0", development_on_network=True)
    assert mode(settings) == "production" and network_warning(settings) is None


def test_make_run_says_development_unless_told_otherwise() -> None:
    assert local_environment({}) == {"CASEWORK_ENVIRONMENT": "development"}
    assert local_environment({"CASEWORK_ENVIRONMENT": "production"}) == {}
