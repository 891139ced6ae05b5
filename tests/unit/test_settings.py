"""Every environment variable keeps its name and reaches its group's setting; harnesses pass settings on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import DeliverySettings, NotifySettings, ReferralSettings, Settings, StatusSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PORTS = ("intake.ops_port", "referral.ops_port", "stabilization.ops_port", "certification.ops_port",
                 "notify.ops_port", "status.ops_port")
# Every variable as operators and checks set it, and where the settings keep it.
VARIABLES: dict[str, tuple[str, ...]] = {
    "CASEWORK_ENVIRONMENT": ("environment",),
    "CASEWORK_DEVELOPMENT_ON_NETWORK": ("development_on_network",),
    "CASEWORK_KAFKA_BOOTSTRAP": ("kafka_bootstrap",),
    "CASEWORK_KAFKA_SECURITY_PROTOCOL": ("kafka_security_protocol",),
    "CASEWORK_KAFKA_SASL_MECHANISM": ("kafka_sasl_mechanism",),
    "CASEWORK_KAFKA_SASL_USERNAME": ("kafka_sasl_username",),
    "CASEWORK_KAFKA_SASL_PASSWORD": ("kafka_sasl_password",),
    "CASEWORK_KAFKA_SSL_CAFILE": ("kafka_ssl_cafile",),
    "CASEWORK_KAFKA_CREDENTIALS_DIR": ("kafka_credentials_dir",),
    "CASEWORK_MONGO_URI": ("mongo_uri",),
    "CASEWORK_KAFKA_REPLICATION_FACTOR": ("kafka_replication_factor",),
    "CASEWORK_TOPIC_PREFIX": ("topic_prefix",),
    "CASEWORK_DB_PREFIX": ("db_prefix",),
    "CASEWORK_HTTP_HOST": ("http_host",),
    "CASEWORK_CLOCK_OFFSET_SECONDS": ("clock_offset_seconds",),
    "CASEWORK_LOG_LEVEL": ("log_level",),
    "CASEWORK_OPS_PORT": SERVICE_PORTS,
    "CASEWORK_BATCH_MAX_RECORDS": ("kit.batch_max_records",),
    "CASEWORK_BATCH_TIMEOUT_MS": ("kit.batch_timeout_ms",),
    "CASEWORK_FETCH_MAX_WAIT_MS": ("kit.fetch_max_wait_ms",),
    "CASEWORK_TIMER_SWEEP_SECONDS": ("kit.timer_sweep_seconds",),
    "CASEWORK_OUTBOX_RELAY_SECONDS": ("kit.outbox_relay_seconds",),
    "CASEWORK_MAX_MESSAGE_BYTES": ("kit.max_message_bytes",),
    "CASEWORK_MAX_DELIVERY_ATTEMPTS": ("kit.max_delivery_attempts",),
    "CASEWORK_STATE_DIR": ("run.state_dir",),
    "CASEWORK_PLAN_GATHER_SECONDS": ("stabilization.plan_gather_seconds",),
    "CASEWORK_HOLDER_GATHER_SECONDS": ("intake.holder_gather_seconds",),
    "CASEWORK_SNAPSHOT_GATHER_SECONDS": ("status.snapshot_gather_seconds",),
    "CASEWORK_OPS_BASE_PORT": ("run.ops_base_port",),
    "CASEWORK_RESTART_FIRST_DELAY_SECONDS": ("run.restart_first_delay_seconds",),
    "CASEWORK_RESTART_MAX_DELAY_SECONDS": ("run.restart_max_delay_seconds",),
    "CASEWORK_RESTART_MAX_CRASHES": ("run.restart_max_crashes",),
    "CASEWORK_RESTART_WINDOW_SECONDS": ("run.restart_window_seconds",),
    "CASEWORK_RESTART_STABLE_SECONDS": ("run.restart_stable_seconds",),
    "CASEWORK_INBOUND_RETENTION_HOURS": ("intake.inbound_retention_hours",),
    "CASEWORK_PII_KEYS": ("intake.pii_keys",),
    "CASEWORK_PII_ACTIVE_KEY_ID": ("intake.pii_active_key_id",),
    "CASEWORK_DEV_KEYRING_PATH": ("intake.dev_keyring_path",),
    "CASEWORK_VAULT_READER_TOKEN": ("intake.vault_reader_token",),
    "CASEWORK_DEV_VAULT_READER_TOKEN_PATH": ("intake.dev_vault_reader_token_path",),
    "CASEWORK_DISCLOSURE_KEY": ("intake.disclosure_key",),
    "CASEWORK_DEV_DISCLOSURE_KEY_PATH": ("intake.dev_disclosure_key_path",),
    "CASEWORK_CONSENT_REMINDER_DAYS": ("intake.consent_reminder_days",),
    "CASEWORK_ACK_SLA_SECONDS_URGENT": ("referral.ack_sla_seconds_urgent",),
    "CASEWORK_ACK_SLA_SECONDS_HIGH": ("referral.ack_sla_seconds_high",),
    "CASEWORK_ACK_SLA_SECONDS_NORMAL": ("referral.ack_sla_seconds_normal",),
    "CASEWORK_MAX_ESCALATIONS": ("referral.max_escalations",),
    "CASEWORK_RETRY_UNASSIGNED_SECONDS": ("referral.retry_unassigned_seconds",),
    "CASEWORK_UNASSIGNED_REALERT_SECONDS": ("referral.unassigned_realert_seconds",),
    "CASEWORK_RECONCILE_SECONDS": ("referral.reconcile_seconds",),
    "CASEWORK_RECONCILE_GRACE_SECONDS": ("referral.reconcile_grace_seconds",),
    "CASEWORK_SERVICE_ACK_SLA_SECONDS": ("referral.service_ack_sla_seconds",),
    "CASEWORK_MIN_STABILIZATION_HOURS": ("stabilization.min_stabilization_hours",),
    "CASEWORK_CP_DURATION_DAYS": ("certification.cp_duration_days",),
    "CASEWORK_CP_RENEWAL_LEAD_DAYS": ("certification.cp_renewal_lead_days",),
    "CASEWORK_NOTIFY_MAX_ATTEMPTS": ("notify.delivery.max_attempts",),
    "CASEWORK_NOTIFY_RETRY_BASE_SECONDS": ("notify.delivery.retry_base_seconds",),
    "CASEWORK_NOTIFY_RETRY_MAX_SECONDS": ("notify.delivery.retry_max_seconds",),
    "CASEWORK_NOTIFY_SEND_TIMEOUT_SECONDS": ("notify.delivery.send_timeout_seconds",),
    "CASEWORK_NOTIFY_LEASE_SECONDS": ("notify.delivery.lease_seconds",),
    "CASEWORK_NOTIFY_CONCURRENCY": ("notify.delivery.concurrency",),
    "CASEWORK_SMTP_HOST": ("notify.smtp.host",),
    "CASEWORK_SMTP_PORT": ("notify.smtp.port",),
    "CASEWORK_SMTP_STARTTLS": ("notify.smtp.starttls",),
    "CASEWORK_SMTP_USERNAME": ("notify.smtp.username",),
    "CASEWORK_SMTP_PASSWORD": ("notify.smtp.password",),
    "CASEWORK_SMTP_SENDER": ("notify.smtp.sender",),
    "CASEWORK_OUTBOX_DIR": ("notify.outbox_dir",),
    "CASEWORK_WEBHOOK_SIGNING_KEY": ("notify.webhook_signing_key",),
    "CASEWORK_WEBHOOK_PREVIOUS_SIGNING_KEY": ("notify.webhook_previous_signing_key",),
    "CASEWORK_DEV_WEBHOOK_KEY_PATH": ("notify.dev_webhook_key_path",),
    "CASEWORK_DASHBOARD_PORT": ("status.dashboard_port",),
    "CASEWORK_DASHBOARD_URL": ("status.dashboard_url",),
    "CASEWORK_INTAKE_URL": ("status.intake_url",),
    "CASEWORK_DASHBOARD_TOKENS": ("status.dashboard_tokens",),
    "CASEWORK_DEV_DASHBOARD_TOKENS_PATH": ("status.dev_dashboard_tokens_path",),
    "CASEWORK_ALIVE_SECONDS": ("status.alive_seconds",),
    "CASEWORK_SESSION_IDLE_SECONDS": ("status.session_idle_seconds",),
    "CASEWORK_SESSION_ABSOLUTE_SECONDS": ("status.session_absolute_seconds",),
    "CASEWORK_SESSION_CHECK_SECONDS": ("status.session_check_seconds",),
    "CASEWORK_SIGN_IN_FAILURES_PER_MINUTE": ("status.sign_in_failures_per_minute",),
}


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def read(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def readme_variables() -> set[str]:
    """The names in README's Configuration table; ``_HIGH`` after ``..._URGENT`` is ``..._HIGH``."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        full = ""
        for token in re.findall(r"`(CASEWORK_[A-Z_]+|_[A-Z_]+)`", row):
            full = token if token.startswith("CASEWORK_") else full.rsplit("_", 1)[0] + token
            names.add(full)
    return names


def compose_variables() -> set[str]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name for s in services.values() for name in s.get("environment", {}) if name.startswith("CASEWORK_")}


ALTERNATIVES = {"PLAINTEXT": "SASL_SSL", "SCRAM-SHA-512": "SCRAM-SHA-256"}  # a choice among values
PATHS_UNSET_BY_DEFAULT = {"kafka_ssl_cafile", "kafka_credentials_dir"}


def sample(default: Any) -> tuple[str, Any]:
    """A value unlike the default, as the environment gives it and as the setting holds it."""
    if default == "production":
        return "development", "development"
    if default in ALTERNATIVES:
        return ALTERNATIVES[default], ALTERNATIVES[default]
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, int | float):
        changed = default + (7 if isinstance(default, int) else 1.5)  # floats include short gathers (at most 5 s)
        return str(changed), changed
    if isinstance(default, Path):
        return "elsewhere/file", Path("elsewhere/file")
    return "fromenv", "fromenv"  # text, or a text setting that is unset by default


def test_the_documented_variables_are_all_known() -> None:
    documented = readme_variables() | compose_variables()
    assert {"CASEWORK_ACK_SLA_SECONDS_HIGH", "CASEWORK_SMTP_PASSWORD", "CASEWORK_OPS_PORT"} <= documented
    assert documented <= set(VARIABLES)


def test_the_settings_read_exactly_these_variables() -> None:
    found = {name: tuple(".".join(p) for p in paths) for name, paths in Settings.variables().items()}
    assert found == VARIABLES


@pytest.mark.parametrize("name", sorted(set(VARIABLES) - {"CASEWORK_OPS_PORT"}))
def test_each_variable_takes_effect(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASEWORK_STATE_DIR", str(tmp_path))  # no local broker here: the plain defaults
    [path] = VARIABLES[name]
    default = read(Settings(), path)
    raw, expected = sample(default)
    if path in PATHS_UNSET_BY_DEFAULT:
        expected = Path(raw)
    monkeypatch.setenv(name, raw)
    assert read(Settings(), path) == expected != default


def test_each_service_has_its_port_and_the_ops_port_variable_moves_them_all(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = {path: read(Settings(), path) for path in SERVICE_PORTS}
    assert defaults == {"intake.ops_port": 8081, "referral.ops_port": 8082, "stabilization.ops_port": 8083,
                        "certification.ops_port": 8084, "notify.ops_port": 8085, "status.ops_port": None}
    assert Settings().status.port == 8080  # the dashboard's
    monkeypatch.setenv("CASEWORK_OPS_PORT", "9123")
    assert {read(Settings(), path) for path in SERVICE_PORTS} == {9123}
    assert Settings().status.port == 9123


def test_the_environment_of_a_subprocess_gives_it_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(topic_prefix="t1.", referral=ReferralSettings(max_escalations=5),
                        notify=NotifySettings(delivery=DeliverySettings(max_attempts=2)),
                        status=StatusSettings(dashboard_tokens="[]"))
    env = settings.as_environment()
    assert env["CASEWORK_MAX_ESCALATIONS"] == "5" and env["CASEWORK_NOTIFY_MAX_ATTEMPTS"] == "2"
    assert "CASEWORK_OPS_PORT" not in env  # each service's own port, unless they were all moved
    assert "CASEWORK_SMTP_PASSWORD" not in env  # unset stays unset
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_a_port_every_service_shares_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_OPS_PORT", "9123")
    assert Settings().as_environment()["CASEWORK_OPS_PORT"] == "9123"


def test_amended_changes_a_copy_group_by_group() -> None:
    settings = Settings()
    changed = settings.amended(topic_prefix="t2.", notify={"smtp": {"port": 2525}, "delivery": {"max_attempts": 1}})
    assert (changed.topic_prefix, changed.notify.smtp.port, changed.notify.delivery.max_attempts) == ("t2.", 2525, 1)
    assert changed.notify.smtp.host == settings.notify.smtp.host
    assert (settings.topic_prefix, settings.notify.smtp.port) == ("", 8025)
    with pytest.raises(KeyError, match="max_attempt"):
        settings.amended(notify={"delivery": {"max_attempt": 1}})


def test_a_setting_given_by_its_old_flat_name_is_refused() -> None:
    with pytest.raises(ValueError, match="max_escalations"):
        Settings(max_escalations=1)  # type: ignore[call-arg]  # the point: not a root setting any more
