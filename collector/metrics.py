"""The service's own Prometheus metrics, one registry per service instance.

A registry per instance (not prometheus_client's global one) lets tests run several services in one
process and keeps third-party libraries' metrics out of our exposition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

import collector

# Export calls take from under a millisecond (parse-only) to seconds (a stalled database).
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass
class ServiceMetrics:
    """Every metric the service exposes on /metrics."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.build_info = Gauge(
            "inferwatch_build_info",
            "Always 1; the labels say which build is running.",
            ["version"],
            registry=self.registry,
        )
        self.build_info.labels(version=collector.__version__).set(1)
        self.grpc_handled = Counter(
            "inferwatch_grpc_server_handled_total",
            "gRPC calls completed, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.grpc_latency = Histogram(
            "inferwatch_grpc_server_handling_seconds",
            "Time to answer a unary gRPC call, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "inferwatch_http_requests_total",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "inferwatch_ready",
            "1 when the last readiness check passed (database reachable, schema at head).",
            registry=self.registry,
        )
        self.readiness_check_seconds = Histogram(
            "inferwatch_readiness_check_seconds",
            "Time the readiness check took.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.ingest_items = Counter(
            "inferwatch_ingest_items_total",
            "Items received, by signal (spans, predictions, outcomes, logs) and result "
            "(accepted, rejected, skipped: non-inference spans dropped by configuration and logs that are not ours).",
            ["signal", "result"],
            registry=self.registry,
        )
        self.ingest_refusals = Counter(
            "inferwatch_ingest_refusals_total",
            "Export calls answered UNAVAILABLE because the spool was full.",
            ["signal"],
            registry=self.registry,
        )
        self.non_finite_values = Counter(
            "inferwatch_ingest_non_finite_values_total",
            "NaN or infinite feature values stored as missing.",
            registry=self.registry,
        )
        self.spool_pending_bytes = Gauge(
            "inferwatch_spool_pending_bytes",
            "Acknowledged bytes in the spool not yet committed to the database.",
            registry=self.registry,
        )
        self.rows_stored = Counter(
            "inferwatch_writer_rows_total",
            "Rows committed to the database by the batch writer (duplicates included).",
            ["table"],
            registry=self.registry,
        )
        self.rows_dropped = Counter(
            "inferwatch_writer_rows_dropped_total",
            "Rows the database refused for a reason other than an outage.",
            ["table"],
            registry=self.registry,
        )
        self.writer_errors = Counter(
            "inferwatch_writer_errors_total",
            "Failed database writes (each is retried).",
            registry=self.registry,
        )
        self.writer_commit_seconds = Histogram(
            "inferwatch_writer_commit_seconds",
            "Time to commit one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
