"""Prometheus metrics every service exposes on ``/metrics``."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram


@dataclass(frozen=True)
class Metrics:
    handled: Counter = field(default_factory=lambda: Counter(
        "casework_messages_handled_total", "Messages read and processed", ["service", "topic"]))
    failed: Counter = field(default_factory=lambda: Counter(
        "casework_messages_failed_total", "Batch attempts that failed on a transient error",
        ["service", "topic", "error_type"]))
    dead_lettered: Counter = field(default_factory=lambda: Counter(
        "casework_messages_dead_lettered_total", "Messages sent to a dead-letter topic",
        ["service", "topic", "error_type"]))
    bounded_out: Counter = field(default_factory=lambda: Counter(
        "casework_messages_bounded_out_total",
        "Messages dead-lettered after the most deliveries of their offset failed", ["service", "topic"]))
    skipped: Counter = field(default_factory=lambda: Counter(
        "casework_messages_skipped_total", "Valid events of types this service ignores",
        ["service", "topic"]))
    latency: Histogram = field(default_factory=lambda: Histogram(
        "casework_handler_seconds", "Time to process one batch, read to commit", ["service", "topic"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)))
    stage: Histogram = field(default_factory=lambda: Histogram(
        "casework_workflow_stage_seconds",
        "Time a workflow's batch spends in each stage: waiting for the writing lock, deciding, "
        "noting timers, writing, publishing", ["service", "stage"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)))
    batch_size: Histogram = field(default_factory=lambda: Histogram(
        "casework_batch_size", "Messages per batch", ["service", "topic"],
        buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)))
    emitted: Counter = field(default_factory=lambda: Counter(
        "casework_events_emitted_total", "Events decided and put in an outbox", ["service", "type"]))
    published: Counter = field(default_factory=lambda: Counter(
        "casework_events_published_total", "Outbox events published", ["service"]))
    conflicts: Counter = field(default_factory=lambda: Counter(
        "casework_version_conflicts_total", "Aggregates re-decided after a version conflict",
        ["service"]))
    consumer_lag: Gauge = field(default_factory=lambda: Gauge(
        "casework_consumer_lag", "Messages behind the end of the partition", ["service", "topic", "partition"]))
    infrastructure_failing: Gauge = field(default_factory=lambda: Gauge(
        "casework_infrastructure_failing", "1 while a consumer holds its partition for the broker or database",
        ["service", "topic"]))
    outbox_backlog: Gauge = field(default_factory=lambda: Gauge(
        "casework_outbox_backlog", "Aggregates with events not yet published", ["service"]))
    timers_due: Gauge = field(default_factory=lambda: Gauge(
        "casework_timers_due", "Aggregates with a timer due now", ["service"]))
    timers_fired: Counter = field(default_factory=lambda: Counter(
        "casework_timers_fired_total", "Durable timers fed through decide", ["service"]))
    sla_breaches: Counter = field(default_factory=lambda: Counter(
        "casework_sla_breaches_total", "Deadlines missed (acknowledgement, HHS notice, filing)",
        ["service", "kind"]))


METRICS = Metrics()
