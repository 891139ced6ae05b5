"""Configuration: environment variables prefixed ``CASEWORK_``, each with a working local default.

What every process needs is at the top (``settings.kafka_bootstrap``); each service's own
settings are a group (``settings.referral.max_escalations``), and so is the kit's tuning
(``settings.kit``). A group is a ``BaseSettings`` of its own with the same ``CASEWORK_``
prefix, so a variable keeps its plain name (``CASEWORK_MAX_ESCALATIONS``); a group whose
variables share a longer prefix has that one (``CASEWORK_NOTIFY_MAX_ATTEMPTS`` is
``settings.notify.delivery.max_attempts``, ``CASEWORK_SMTP_PORT`` is ``settings.notify.smtp.port``).

One default is not a local one: ``CASEWORK_ENVIRONMENT`` is production unless set, so a
deployment that forgets it needs real secrets; ``make run``, the tests and the benchmarks
say development (shared/environment.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.common import Priority
from shared.topics import INBOUND_RETENTION_HOURS

PREFIX = "CASEWORK_"
Model = TypeVar("Model", bound=BaseModel)


class Group(BaseSettings):
    """Settings read from the environment by the group itself, whatever group holds it."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)


class KitSettings(Group):
    """The reliable-processing kit: consumer batches, timer sweeps, the outbox relay, message size."""

    batch_max_records: int = Field(default=500, gt=0)
    batch_timeout_ms: int = Field(default=20, ge=0)
    # How long the broker holds a consumer's fetch when nothing is new (Kafka's long poll). Over
    # TLS it also bounds a consumer's stop: the broker reads the TLS close only once the fetch in
    # flight is answered. The tests shorten it, since they stop services all the time.
    fetch_max_wait_ms: int = Field(default=500, gt=0, le=5000)
    timer_sweep_seconds: float = Field(default=1.0, gt=0)
    outbox_relay_seconds: float = Field(default=5.0, gt=0)
    max_message_bytes: int = Field(default=256 * 1024, gt=0)
    # Deliveries of one offset that may fail (for a reason of the record's own) before it is
    # dead-lettered; failures of the broker or database never count (the consumer waits).
    max_delivery_attempts: int = Field(default=5, ge=1)


class RunSettings(Group):
    """``make run``: where the servers' pid files, logs and data live (infra/up.sh reads the same
    ``CASEWORK_STATE_DIR``), the services' ops ports (intake, referral, stabilization,
    certification and notify from ``ops_base_port`` up), and when a process that died is
    restarted: after a backoff doubling from the first delay, up to a number of crashes within
    a window, a run of ``restart_stable_seconds`` forgetting the crashes before it."""

    state_dir: Path = Path(".local")
    ops_base_port: int = Field(default=8081, gt=0, lt=65531)
    restart_first_delay_seconds: float = Field(default=1.0, gt=0)
    restart_max_delay_seconds: float = Field(default=30.0, gt=0)
    restart_max_crashes: int = Field(default=5, ge=1)
    restart_window_seconds: float = Field(default=180.0, gt=0)
    restart_stable_seconds: float = Field(default=60.0, gt=0)


class IntakeSettings(Group):
    """The intake service, the key ring of its vault, the reminder before a consent lapses, and
    how long the broker keeps what intake seals."""

    ops_port: int = 8081
    # How long ``encounters.reported`` and its dead-letter topic keep a record: an agency's
    # report holds the person's identity unsealed until intake reads it (docs/design.md,
    # Retention). Every process that creates those topics reads it, and brings them to it.
    inbound_retention_hours: int = Field(default=INBOUND_RETENTION_HOURS, gt=0)
    pii_keys: str | None = None
    pii_active_key_id: str | None = None
    dev_keyring_path: Path = Path(".local/dev-keyring.json")
    # The service credential the dashboard presents to read an identity from the vault
    # (``GET /internal/v1/cases/{case_id}/person`` on the ops port). Every process that calls
    # the vault reads the same variable, CASEWORK_VAULT_READER_TOKEN; generated once under
    # .local/ in development, required in production.
    vault_reader_token: str | None = None
    dev_vault_reader_token_path: Path = Path(".local/dev-vault-reader-token")
    # The key of a provider's disclosure links (docs/design.md, Disclosure): notify mints each
    # service request's capability with it, intake checks it. Generated once under .local/ in
    # development, required in production.
    disclosure_key: str | None = None
    dev_disclosure_key_path: Path = Path(".local/dev-disclosure-key")
    # The case's specialist is told this many days before a written or electronic consent lapses.
    consent_reminder_days: int = Field(default=7, gt=0)
    # Off the path to the referral mail: who holds a case, folded from several topics, is
    # written once for the events that come within this many seconds (a case's opening and
    # its first assignment usually do: one insert, no update). An identity or disclosure read
    # waits (up to this and 2 s) for the batches intake has already received for its case.
    holder_gather_seconds: float = Field(default=1.0, ge=0, le=5)


class ReferralSettings(Group):
    """Acknowledgement deadlines and escalation; how unassigned cases and capacity holds are revisited."""

    ops_port: int = 8082
    ack_sla_seconds_urgent: int = Field(default=300, gt=0)
    ack_sla_seconds_high: int = Field(default=900, gt=0)
    ack_sla_seconds_normal: int = Field(default=1800, gt=0)
    max_escalations: int = Field(default=2, ge=0)
    # An unassigned case looks again for a specialist this often (and whenever the roster changes).
    retry_unassigned_seconds: float = Field(default=60.0, gt=0)
    # An unassigned case alerts the supervisors again this often (CaseUnassigned.alert counts).
    unassigned_realert_seconds: float = Field(default=900.0, gt=0)
    # Reconciling capacity reads every hold: keep it rare. A hold younger than the grace is left
    # alone (its assignment may be on its way to being written).
    reconcile_seconds: float = Field(default=300.0, gt=0)
    reconcile_grace_seconds: float = Field(default=300.0, ge=0)
    # A support-service provider answers a request within this long, or the specialist is told.
    service_ack_sla_seconds: int = Field(default=4 * 3600, gt=0)

    def ack_sla_seconds(self, priority: Priority) -> int:
        return {
            Priority.URGENT: self.ack_sla_seconds_urgent,
            Priority.HIGH: self.ack_sla_seconds_high,
            Priority.NORMAL: self.ack_sla_seconds_normal,
        }[priority]


class StabilizationSettings(Group):
    ops_port: int = 8083
    min_stabilization_hours: float = Field(default=24, ge=0)
    # Off the path to the referral mail: batches of several topics wait this long to be written together.
    plan_gather_seconds: float = Field(default=1.0, ge=0, le=5)


class CertificationSettings(Group):
    """Continued Presence: how long a grant lasts, and how early its renewal is asked for (C3)."""

    ops_port: int = 8084
    cp_duration_days: int = Field(default=730, gt=0)
    cp_renewal_lead_days: int = Field(default=90, ge=0)


class DeliverySettings(Group):
    """Notification delivery: attempts per recipient and channel, backoff between them, the time
    one attempt may take, how long a claimed attempt waits for its outcome, sends at once."""

    model_config = SettingsConfigDict(env_prefix=f"{PREFIX}NOTIFY_")

    max_attempts: int = Field(default=6, ge=1)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    concurrency: int = Field(default=32, ge=1)


class SmtpSettings(Group):
    """The mail server notify sends through (the local sink under ``make run``)."""

    model_config = SettingsConfigDict(env_prefix=f"{PREFIX}SMTP_")

    host: str = "127.0.0.1"
    port: int = 8025
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "casework@localhost"


class NotifySettings(Group):
    ops_port: int = 8085
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    outbox_dir: Path = Path(".local/outbox")  # where the local sink files each mail
    # Signed webhooks: each recipient's secret is HMAC-SHA256(this key, recipient id)
    # (``casework webhook secret ID`` prints it). Generated once under .local/ in development.
    webhook_signing_key: str | None = None
    # During a rotation, the key before: every webhook is then signed with both recipients'
    # secrets (two ``v1=``), until every receiver holds its new one and this is unset.
    webhook_previous_signing_key: str | None = None
    dev_webhook_key_path: Path = Path(".local/dev-webhook-key")


class StatusSettings(Group):
    """The dashboard the status service serves, and how its running processes are told apart."""

    dashboard_port: int = 8080
    # Snapshots of a case's events from several topics are folded and published together
    # when they come within this many seconds (one write and one snapshot, not one each).
    snapshot_gather_seconds: float = Field(default=2.0, ge=0, le=5)
    # When set (test and benchmark harnesses), the dashboard moves with the ops routes.
    ops_port: int | None = None
    dashboard_url: str = "http://127.0.0.1:8080"
    # Where the dashboard reads an identity from: intake's ops port (its identity path).
    intake_url: str = "http://127.0.0.1:8081"
    # Dashboard API tokens: a JSON list of {"sha256", "role", "agencies", "specialist_id"?,
    # "name"} (``casework status token`` makes one). Generated once under .local/ in development.
    dashboard_tokens: str | None = None
    dev_dashboard_tokens_path: Path = Path(".local/dashboard-tokens.json")
    # A status process counts as running while its heartbeat is younger than this (it beats
    # four times as often): ``casework status rebuild`` refuses to race one.
    alive_seconds: float = Field(default=20.0, gt=0)
    # A signed-in browser's session (server-side, in the ``sessions`` collection) ends after
    # this long without a request, and after the absolute lifetime however active it is.
    session_idle_seconds: int = Field(default=1800, gt=0)
    session_absolute_seconds: int = Field(default=12 * 3600, gt=0)
    # How often each process looks whether the sessions of its open event streams have ended
    # (signed out elsewhere, or expired), closes those streams, and sweeps ended sessions away.
    session_check_seconds: float = Field(default=15.0, gt=0)
    # Failed sign-ins one client address may make in a moving minute; past it, 429.
    sign_in_failures_per_minute: int = Field(default=10, ge=1)

    @property
    def port(self) -> int:
        return self.ops_port or self.dashboard_port

    @property
    def case_link_base(self) -> str:
        return self.dashboard_url.rstrip("/") + "/cases/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    # Production unless development is asked for, and development only on loopback
    # (shared/environment.py decides: ``mode(settings)``, never this value alone).
    environment: Literal["development", "production"] = "production"
    # A throw-away trial's services listen on a private network in development (docker compose):
    # allowed when this says so, with a loud warning at every start.
    development_on_network: bool = False
    kafka_bootstrap: str = "127.0.0.1:9092"
    # How every client reaches the broker (the services' FastStream brokers and every direct
    # client: shared.kafka.connection): PLAINTEXT locally today; SASL_SSL with SCRAM in production.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None  # the CA that signed the broker's certificate (else the system's)
    # Development: a directory of connection files, one per principal (``casework-<name>.json``,
    # casework/localkafka.py); each client signs in as its own principal from it, unless
    # CASEWORK_KAFKA_SASL_USERNAME names one (a production process: one principal, its own).
    kafka_credentials_dir: Path | None = None
    mongo_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    kafka_replication_factor: int = Field(default=1, ge=1)
    # Isolation for tests and side-by-side deployments; empty in normal operation.
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    db_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$")
    # Where the HTTP endpoints listen: loopback locally; 0.0.0.0 inside a container.
    http_host: str = "127.0.0.1"
    # Shifts every service's clock (end-to-end tests and demos of day-long deadlines): keep 0.
    clock_offset_seconds: float = 0.0
    log_level: str = "INFO"

    kit: KitSettings = Field(default_factory=KitSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    referral: ReferralSettings = Field(default_factory=ReferralSettings)
    stabilization: StabilizationSettings = Field(default_factory=StabilizationSettings)
    certification: CertificationSettings = Field(default_factory=CertificationSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    status: StatusSettings = Field(default_factory=StatusSettings)

    @model_validator(mode="before")
    @classmethod
    def _local_broker(cls, data: Any) -> Any:
        """On this checkout, a process reaches the local broker the way it is secured (make
        infra-up: SASL_SSL, each principal's password under ``<state>/kafka``) unless the broker's
        security is configured or production is said explicitly: the developer path needs no
        setting (``casework publish`` in a fresh shell). It fails closed elsewhere: those
        passwords and that CA open the checkout's own broker only."""
        if not isinstance(data, dict) or str(data.get("environment", "development")).lower() != "development":
            return data
        if {"kafka_security_protocol", "kafka_sasl_username", "kafka_credentials_dir"} & data.keys():
            return data
        kafka = (Path(os.environ.get(f"{PREFIX}STATE_DIR") or ".local") / "kafka").resolve()
        if not (kafka / "principals").is_dir():
            return data
        return {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_ssl_cafile": kafka / "tls" / "ca.pem", "kafka_credentials_dir": kafka / "principals", **data}

    def topic(self, name: str) -> str:
        """The physical Kafka topic for a contract topic name."""
        return f"{self.topic_prefix}{name}"

    def database(self, name: str) -> str:
        return f"{self.db_prefix}{name}"

    def as_environment(self) -> dict[str, str]:
        """The environment that gives a subprocess these settings.

        A variable several groups read (``CASEWORK_OPS_PORT``) is passed on only when they
        agree on it: each service has its own port by default.
        """
        values: dict[str, set[str]] = {}
        for name, value in _values(self):
            values.setdefault(name, set()).add(str(value))
        return {name: found.pop() for name, found in values.items() if len(found) == 1}

    @classmethod
    def variables(cls) -> dict[str, list[tuple[str, ...]]]:
        """Every environment variable, with the attribute paths that read it."""
        found: dict[str, list[tuple[str, ...]]] = {}
        for name, path in _variables(cls):
            found.setdefault(name, []).append(path)
        return found

    def amended(self, **changes: Any) -> Settings:
        """A copy with some values changed, a group's as a mapping (not validated, as ``model_copy``):
        ``settings.amended(topic_prefix="t.", referral={"max_escalations": 1})``."""
        return _amended(self, changes)


def _prefix(model: type[BaseSettings]) -> str:
    return model.model_config.get("env_prefix", "")


def _values(settings: BaseSettings) -> Iterator[tuple[str, object]]:
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseSettings):
            yield from _values(value)
        elif value is not None:
            yield f"{_prefix(type(settings))}{name}".upper(), value


def _variables(model: type[BaseSettings], path: tuple[str, ...] = ()) -> Iterator[tuple[str, tuple[str, ...]]]:
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            yield from _variables(kind, (*path, name))
        else:
            yield f"{_prefix(model)}{name}".upper(), (*path, name)


def _amended(model: Model, changes: Mapping[str, Any]) -> Model:
    unknown = sorted(set(changes) - set(type(model).model_fields))
    if unknown:
        raise KeyError(f"{type(model).__name__} has no setting {', '.join(unknown)}")
    update = {name: _amended(getattr(model, name), value)
              if isinstance(value, Mapping) and isinstance(getattr(model, name), BaseModel) else value
              for name, value in changes.items()}
    return model.model_copy(update=update)
