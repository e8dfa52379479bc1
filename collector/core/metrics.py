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

# Background passes take from milliseconds (an idle alert pass) to a minute (detectors on a big fleet).
_PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

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
        self.ingest_paced_seconds = Counter(
            "inferwatch_ingest_paced_seconds_total",
            "Seconds export answers waited, after spooling, for the writer to drain a backlog (pacing).",
            ["signal"],
            registry=self.registry,
        )
        self.non_finite_values = Counter(
            "inferwatch_ingest_non_finite_values_total",
            "NaN or infinite feature values stored as missing.",
            registry=self.registry,
        )
        self.values_clamped = Counter(
            "inferwatch_ingest_values_clamped_total",
            "Values cut to what the database stores: text past its column's width or with NUL characters, token "
            "counts past 2^31-1, unknown span kinds and status codes. The item is stored with the cut value.",
            ["signal"],
            registry=self.registry,
        )
        self.cardinality_overflow = Counter(
            "inferwatch_ingest_cardinality_overflow_total",
            "Span labels stored as 'other' because their dimension (model, version, operation, hardware_class) "
            "was at its limit (collector.max_*).",
            ["dimension"],
            registry=self.registry,
        )
        self.raw_spans_dropped = Counter(
            "inferwatch_ingest_raw_spans_dropped_total",
            "Spans stored without their raw bytes because those were over collector.max_raw_span_bytes.",
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
        self.rows_dead_lettered = Counter(
            "inferwatch_writer_rows_dead_lettered_total",
            "Rows the database refused for what they hold (not for an outage), kept in the dead_letters table "
            "with the reason; table 'spool' counts spool records set aside unread.",
            ["table"],
            registry=self.registry,
        )
        self.outcomes_without_prediction = Counter(
            "inferwatch_outcomes_without_prediction_total",
            "Outcomes stored whose prediction id had no stored prediction when they were written (the prediction "
            "may still arrive, or was never sent: check the client's ids).",
            registry=self.registry,
        )
        self.outcomes_unknown_prediction = Counter(
            "inferwatch_ingest_outcomes_unknown_prediction_at_accept_total",
            "Outcomes accepted whose prediction id was known nowhere when they were accepted: not in the same "
            "request, not received recently by this replica, not stored. Each is stored, and a warning in the answer.",
            registry=self.registry,
        )
        self.outcome_ids_unchecked = Counter(
            "inferwatch_ingest_outcome_ids_unchecked_total",
            "Outcomes accepted whose prediction id could not be checked (the database did not answer); each is "
            "stored, and a warning in the answer says it was not checked.",
            registry=self.registry,
        )
        self.text_in_numeric_features = Counter(
            "inferwatch_ingest_text_in_numeric_features_total",
            "Feature values stored as text although the model's drift reference holds the feature as numeric "
            "(drift counts them as missing); each is a warning in the answer to the client.",
            registry=self.registry,
        )
        self.writer_restarts = Counter(
            "inferwatch_writer_restarts_total",
            "Times the database writer process died and was restarted; /readyz is 503 while it keeps dying.",
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

        self.spans_too_late = Counter(
            "inferwatch_rollup_spans_too_late_total",
            "Spans stored but left out of rollups (and so of latency, SLO, cost and drift-free detectors) because "
            "they arrived for an interval older than storage.span_retention_days.",
            registry=self.registry,
        )

        # The service watching itself: a stuck detector pass or an alert that cannot be delivered must page
        # somebody through another path (Prometheus), since inferwatch's own alerts would be the casualty.
        self.pass_seconds = Histogram(
            "inferwatch_background_pass_seconds",
            "Time one background pass took, by pass (detectors: rollups, detectors, retention; alerts: "
            "alert lifecycle and delivery).",
            ["pass_name"],
            buckets=_PASS_BUCKETS,
            registry=self.registry,
        )
        self.pass_failures = Counter(
            "inferwatch_background_pass_failures_total",
            "Background passes that raised (each is retried at the next interval).",
            ["pass_name"],
            registry=self.registry,
        )
        self.pass_last_success = Gauge(
            "inferwatch_background_pass_last_success_timestamp_seconds",
            "Unix time the pass last succeeded; alert on time() minus this growing past a few intervals.",
            ["pass_name"],
            registry=self.registry,
        )
        self.alert_notifications = Counter(
            "inferwatch_alert_notifications_total",
            "Notification attempts, by receiver and result (sent, retrying, failed: given up).",
            ["receiver", "result"],
            registry=self.registry,
        )
        self.alert_outbox_unsent = Gauge(
            "inferwatch_alert_outbox_unsent",
            "Alert deliveries decided but not yet sent (pending or retrying), after the last pass.",
            registry=self.registry,
        )
        self.alert_outbox_oldest_unsent_seconds = Gauge(
            "inferwatch_alert_outbox_oldest_unsent_seconds",
            "Age of the oldest unsent alert delivery after the last pass; 0 when none waits.",
            registry=self.registry,
        )

    def observe_overflow(self, dimension: str, count: int) -> None:
        """Span labels past a cardinality limit (``collector.ingest.cardinality``)."""
        self.cardinality_overflow.labels(dimension=dimension).inc(count)

    def observe_pass(self, name: str, seconds: float, ok: bool) -> None:
        """A background pass ended (``collector.core.periodic.PassObserver``)."""
        self.pass_seconds.labels(pass_name=name).observe(seconds)
        if ok:
            self.pass_last_success.labels(pass_name=name).set_to_current_time()
        else:
            self.pass_failures.labels(pass_name=name).inc()

    def observe_notification(self, receiver: str, result: str) -> None:
        """One notification attempt ended: ``sent``, ``retrying`` or ``failed``."""
        self.alert_notifications.labels(receiver=receiver, result=result).inc()

    def observe_outbox(self, unsent: int, oldest_unsent_s: float) -> None:
        """The outbox after a delivery pass."""
        self.alert_outbox_unsent.set(unsent)
        self.alert_outbox_oldest_unsent_seconds.set(oldest_unsent_s)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
