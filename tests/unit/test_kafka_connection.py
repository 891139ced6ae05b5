"""One way to reach the broker: every client casework builds takes its TLS and SASL options
from the same settings (``shared.kafka.connection`` and, for FastStream, ``security``)."""

from __future__ import annotations

import ast
import json
import ssl
from pathlib import Path

import pytest
from faststream.security import BaseSecurity, SASLScram512

from shared.kafka import connection, security
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
# The client that must be refused: PLAINTEXT against the secured broker.
DELIBERATELY_BARE = {"tests/integration/test_broker_acls.py"}


def test_plaintext_by_default_names_only_the_servers() -> None:
    settings = Settings(environment="production", kafka_bootstrap="broker-1:9092,broker-2:9092")
    assert connection(settings, "intake") == {"bootstrap_servers": "broker-1:9092,broker-2:9092",
                                              "security_protocol": "PLAINTEXT"}
    assert security(settings, "intake") is None


def test_sasl_ssl_carries_the_mechanism_the_principal_and_a_verifying_tls_context() -> None:
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="casework-intake",
                        kafka_sasl_password="s3cret")
    options = connection(settings, "referral")  # a process of one principal: the one configured
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("casework-intake", "s3cret")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    broker = security(settings, "intake")
    assert isinstance(broker, SASLScram512) and broker.use_ssl
    tls_only = security(Settings(kafka_security_protocol="SSL"), "intake")
    assert isinstance(tls_only, BaseSecurity) and tls_only.use_ssl and "sasl_mechanism" not in connection(
        Settings(kafka_security_protocol="SSL"), "intake")


def test_sasl_without_its_credentials_is_refused_naming_the_variables() -> None:
    with pytest.raises(ValueError, match="CASEWORK_KAFKA_SASL_USERNAME and CASEWORK_KAFKA_SASL_PASSWORD"):
        connection(Settings(environment="production", kafka_security_protocol="SASL_SSL"), "intake")


def _principal(directory: Path, user: str, password: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{user}.json").write_text(json.dumps({"sasl_username": user, "sasl_password": password}))


def test_each_client_signs_in_as_its_own_principal_from_the_development_credentials(tmp_path: Path) -> None:
    _principal(tmp_path, "casework-intake", "for-intake")
    _principal(tmp_path, "casework-operator", "for-operators")
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_credentials_dir=tmp_path)
    intake, operator = connection(settings, "intake"), connection(settings, "operator")
    assert (intake["sasl_plain_username"], intake["sasl_plain_password"]) == ("casework-intake", "for-intake")
    assert (operator["sasl_plain_username"], operator["sasl_plain_password"]) == ("casework-operator", "for-operators")
    with pytest.raises(ValueError, match=r"no readable credentials for the Kafka principal 'status'.*make infra-up"):
        security(settings, "status")


def test_development_on_this_checkout_finds_the_local_broker_s_credentials(tmp_path: Path, monkeypatch) -> None:
    _principal(tmp_path / "kafka" / "principals", "casework-intake", "x")
    monkeypatch.setenv("CASEWORK_STATE_DIR", str(tmp_path))
    found = Settings(environment="development")
    principals = tmp_path / "kafka" / "principals"
    assert (found.kafka_security_protocol, found.kafka_credentials_dir) == ("SASL_SSL", principals)
    assert found.kafka_ssl_cafile == tmp_path / "kafka" / "tls" / "ca.pem"
    # Nor with the mode unset (a newcomer's shell: `casework publish` as the README has it).
    monkeypatch.delenv("CASEWORK_ENVIRONMENT", raising=False)
    assert Settings().kafka_credentials_dir == principals and Settings().environment == "production"
    # Production said explicitly never reads local files; what is configured is kept as it is.
    assert Settings(environment="production").kafka_credentials_dir is None
    assert Settings(environment="development", kafka_security_protocol="PLAINTEXT").kafka_credentials_dir is None
    monkeypatch.setenv("CASEWORK_STATE_DIR", str(tmp_path / "elsewhere"))
    assert Settings(environment="development").kafka_security_protocol == "PLAINTEXT"  # no local broker made


def test_every_kafka_client_in_the_code_is_built_with_the_connection_options() -> None:
    """A client built with a bare ``bootstrap_servers=`` would skip TLS and SASL."""
    bare = []
    for path in sorted(p for top in ("shared", "services", "casework", "bench", "tests", "examples")
                       for p in (ROOT / top).rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in DELIBERATELY_BARE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in CLIENTS:
                if any(k.arg == "bootstrap_servers" for k in node.keywords) or not any(
                        k.arg is None for k in node.keywords):
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


async def test_a_stop_that_hangs_on_the_tls_close_is_cut_after_its_bound() -> None:
    import asyncio

    from shared.kafka import stopped

    class Transport:
        aborted = False

        def abort(self) -> None:
            self.aborted = True
            closing.set()

    class Connection:
        def __init__(self) -> None:
            self._writer = type("Writer", (), {"transport": transport})()

    class Client:
        def __init__(self) -> None:
            self._client = type("Inner", (), {"_conns": {("node", 0): Connection()}})()

        async def stop(self) -> None:
            await closing.wait()  # as a TLS close waits for the broker's answer

    closing, transport = asyncio.Event(), Transport()
    await asyncio.wait_for(stopped(Client(), seconds=0.05), 5)
    assert transport.aborted
    transport = Transport()
    quick = Client()  # its stop returns at once (the close is answered): nothing is cut
    await stopped(quick, seconds=5)
    assert not transport.aborted
