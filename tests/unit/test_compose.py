"""docker-compose.yml runs every service with the settings it needs."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
NEEDS = {
    "intake": {"CASEWORK_PII_KEYS", "CASEWORK_PII_ACTIVE_KEY_ID", "CASEWORK_VAULT_READER_TOKEN",
               "CASEWORK_DISCLOSURE_KEY"},
    "notify": {"CASEWORK_SMTP_HOST", "CASEWORK_SMTP_PORT", "CASEWORK_SMTP_STARTTLS", "CASEWORK_WEBHOOK_SIGNING_KEY",
               "CASEWORK_DISCLOSURE_KEY"},
    "status": {"CASEWORK_DASHBOARD_PORT", "CASEWORK_DASHBOARD_TOKENS", "CASEWORK_VAULT_READER_TOKEN",
               "CASEWORK_INTAKE_URL"},
}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_has_a_container_running_its_app() -> None:
    services = compose()["services"]
    for name in SERVICES:
        assert name in services, f"{name} is missing from docker-compose.yml"
        assert services[name]["command"] == ["faststream", "run", "--factory", f"services.{name}.app:create_app"]
        assert services[name]["build"] == "."


def test_every_service_has_the_settings_it_needs() -> None:
    services = compose()["services"]
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["CASEWORK_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["CASEWORK_MONGO_URI"].startswith("mongodb://mongo:27017")
        assert NEEDS.get(name, set()) <= set(env), name
        assert {"kafka", "mongo"} <= set(services[name]["depends_on"])


def test_every_variable_is_a_real_setting() -> None:
    known = set(Settings.variables())
    for name, service in compose()["services"].items():
        unknown = {k for k in service.get("environment", {}) if k.startswith("CASEWORK_")} - known
        assert not unknown, f"{name}: {unknown} are not settings"


def test_servers_are_kafka_in_kraft_mode_and_mongodb() -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.") and kafka["command"] == ["/bin/sh", "/casework/kafka.sh"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    assert mounted["/casework/server.properties.in"] == "./infra/kafka/server.properties.in"  # the local broker's
    template = (ROOT / "infra" / "kafka" / "server.properties.in").read_text()
    assert {"process.roles=broker,controller", "auto.create.topics.enable=false"} <= set(template.splitlines())
    assert services["mongo"]["image"].startswith("mongo:")


def test_the_broker_is_secured_and_every_service_signs_in_as_itself() -> None:
    services = compose()["services"]
    template = dict(line.split("=", 1) for line in (ROOT / "infra" / "kafka" / "server.properties.in").read_text()
                    .splitlines() if "=" in line and not line.startswith("#"))
    assert template["listeners"].split(",")[0].startswith("SASL_SSL://")  # no PLAINTEXT listener for clients
    assert template["authorizer.class.name"].endswith("StandardAuthorizer")
    assert template["allow.everyone.if.no.acl.found"] == "false"
    script = (ROOT / "infra" / "compose" / "kafka.sh").read_text()
    assert "--add-scram" in script and "@LISTEN_HOST@#0.0.0.0" in script and "@ADVERTISED_HOST@#kafka" in script
    assert services["kafka-secrets"]["command"][-3:] == ["/app/.local", "9092", "kafka"]  # a certificate for "kafka"
    assert services["kafka-acls"]["command"][-4:] == ["kafka", "acls", "--apply", "--quiet"]
    assert services["kafka-acls"]["volumes"][0]["volume"] == {"subpath": "for/admin"}
    assert template["controller.quorum.bootstrap.servers"].startswith("127.0.0.1:")  # the controller on loopback
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["CASEWORK_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["CASEWORK_KAFKA_CREDENTIALS_DIR"] == "/app/.local/kafka/principals", name
        [secrets] = [v for v in services[name]["volumes"] if isinstance(v, dict) and v["source"] == "kafka-secrets"]
        # Its own password and the CA only: no other principal's, not the admin's.
        assert (secrets["target"], secrets["read_only"], secrets["volume"]) == (
            "/app/.local/kafka", True, {"subpath": f"for/{name}"}), name
        assert services[name]["depends_on"]["kafka-acls"] == {"condition": "service_completed_successfully"}


def test_the_trial_keeps_its_development_secrets_on_the_compose_network() -> None:
    """Development on 0.0.0.0 is allowed only as a trial that says so; what it publishes stays
    on the host's loopback, and production (set by the operator) is one variable away."""
    services = compose()["services"]
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["CASEWORK_ENVIRONMENT"] == "${CASEWORK_ENVIRONMENT:-development}", name
        assert env["CASEWORK_HTTP_HOST"] == "0.0.0.0" and env["CASEWORK_DEVELOPMENT_ON_NETWORK"] == "true", name
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond the host's loopback"
