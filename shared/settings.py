"""Configuration: environment variables prefixed ``CASEWORK_``, each with a working local default."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.common import Priority


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEWORK_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    # Isolation for tests and side-by-side deployments; empty in normal operation.
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    db_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$")

    dashboard_port: int = 8080
    dashboard_url: str = "http://127.0.0.1:8080"
    # Dashboard API tokens: a JSON list of {"sha256", "role", "agencies", "specialist_id"?,
    # "name"} (``casework status token`` makes one). Generated once under .local/ in development.
    dashboard_tokens: str | None = None
    dev_dashboard_tokens_path: Path = Path(".local/dashboard-tokens.json")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "casework@localhost"
    outbox_dir: Path = Path(".local/outbox")

    ack_sla_seconds_urgent: int = Field(default=300, gt=0)
    ack_sla_seconds_high: int = Field(default=900, gt=0)
    ack_sla_seconds_normal: int = Field(default=1800, gt=0)
    max_escalations: int = Field(default=2, ge=0)
    min_stabilization_hours: float = Field(default=24, ge=0)
    cp_duration_days: int = Field(default=730, gt=0)
    cp_renewal_lead_days: int = Field(default=90, ge=0)

    pii_keys: str | None = None
    pii_active_key_id: str | None = None
    dev_keyring_path: Path = Path(".local/dev-keyring.json")

    # Signed webhooks: each recipient's secret is HMAC-SHA256(this key, recipient id)
    # (``casework webhook secret ID`` prints it). Generated once under .local/ in development.
    webhook_signing_key: str | None = None
    dev_webhook_key_path: Path = Path(".local/dev-webhook-key")
    # Notification delivery: attempts per recipient and channel, backoff between them,
    # the time one attempt may take, and how long a claimed attempt waits for its outcome.
    notify_max_attempts: int = Field(default=6, ge=1)
    notify_retry_base_seconds: float = Field(default=5.0, gt=0)
    notify_retry_max_seconds: float = Field(default=600.0, gt=0)
    notify_send_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_lease_seconds: float = Field(default=60.0, gt=0)
    notify_concurrency: int = Field(default=32, ge=1)

    # Liveness, readiness and metrics over HTTP; each service has its own default port.
    ops_port: int | None = None
    # ``make run``: where the servers' pid files, logs and data live (infra/up.sh reads the
    # same CASEWORK_STATE_DIR); the services' ops ports (intake, referral, stabilization,
    # certification and notify from this one up); and when it restarts a process that died:
    # after a backoff doubling from the first delay, up to a given number of crashes within
    # a window, a run of the stable seconds forgetting the crashes before it.
    state_dir: Path = Path(".local")
    ops_base_port: int = Field(default=8081, gt=0, lt=65531)
    restart_first_delay_seconds: float = Field(default=1.0, gt=0)
    restart_max_delay_seconds: float = Field(default=30.0, gt=0)
    restart_max_crashes: int = Field(default=5, ge=1)
    restart_window_seconds: float = Field(default=180.0, gt=0)
    restart_stable_seconds: float = Field(default=60.0, gt=0)
    # Where the HTTP endpoints listen: loopback locally; 0.0.0.0 inside a container.
    http_host: str = "127.0.0.1"
    # Shifts every service's clock (end-to-end tests and demos of day-long deadlines): keep 0.
    clock_offset_seconds: float = 0.0
    log_level: str = "INFO"
    batch_max_records: int = Field(default=500, gt=0)
    batch_timeout_ms: int = Field(default=20, ge=0)
    timer_sweep_seconds: float = Field(default=1.0, gt=0)
    outbox_relay_seconds: float = Field(default=5.0, gt=0)
    max_message_bytes: int = Field(default=256 * 1024, gt=0)
    kafka_replication_factor: int = Field(default=1, ge=1)

    def topic(self, name: str) -> str:
        """The physical Kafka topic for a contract topic name."""
        return f"{self.topic_prefix}{name}"

    def database(self, name: str) -> str:
        return f"{self.db_prefix}{name}"

    def ack_sla_seconds(self, priority: Priority) -> int:
        return {
            Priority.URGENT: self.ack_sla_seconds_urgent,
            Priority.HIGH: self.ack_sla_seconds_high,
            Priority.NORMAL: self.ack_sla_seconds_normal,
        }[priority]

    @cached_property
    def case_link_base(self) -> str:
        return self.dashboard_url.rstrip("/") + "/cases/"
