"""Per-model series on ``/metrics``: a prometheus_client collector over the last snapshot, and the pass that
refreshes it.

Every name is documented in the README ("Per-model metrics"). The refresh runs as a periodic pass off the event
loop (``collector.core.periodic``), at the detector interval, since rollups and findings change only then; a
scrape renders the snapshot it finds. Every replica on one database shows the same per-model numbers (the
counters count from each replica's start), so dashboards take ``max`` over instances, never ``sum``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from collector.core.periodic import PassObserver, PeriodicPass, RunsPeriodically
from collector.service.model_snapshot import ModelSnapshot, ModelSnapshotBuilder, SnapshotOptions

logger = logging.getLogger(__name__)

PREFIX = "inferwatch_model_"
TRAFFIC_LABELS = ("model", "version", "hardware_class")
SLO_LABELS = ("model", "slo")
PASS_NAME = "inferwatch-model-metrics"


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=list(labels))


def snapshot_metrics(snapshot: ModelSnapshot) -> list[Metric]:
    """The snapshot as metric families; each family is present (maybe empty) so the names are always listed."""
    since = float(snapshot.counting_since_s)
    requests = CounterMetricFamily(
        PREFIX + "requests", "Inference spans rolled up since this process started.", labels=list(TRAFFIC_LABELS)
    )
    errors = CounterMetricFamily(
        PREFIX + "errors",
        "Inference spans with an error status, since this process started.",
        labels=list(TRAFFIC_LABELS),
    )
    latency = SummaryMetricFamily(
        PREFIX + "latency_seconds",
        "Inference span duration: quantiles over the last 5 minutes; _count and _sum (busy time) since this "
        "process started.",
        labels=list(TRAFFIC_LABELS),
    )
    spend = _gauge(
        "spend_usd_per_hour",
        "Dollars spent over the last hour (busy time times the hardware class's price, or tokens times the model's "
        "token price).",
        TRAFFIC_LABELS,
    )
    for series in snapshot.traffic:
        labels = [series.model, series.version, series.hardware_class]
        requests.add_metric(labels, series.requests_total, created=since)
        errors.add_metric(labels, series.errors_total, created=since)
        for quantile, seconds in sorted(series.latency_s.items()):
            latency.add_sample(
                latency.name, dict(zip(TRAFFIC_LABELS, labels, strict=True), quantile=f"{quantile:g}"), seconds
            )
        latency.add_metric(labels, series.requests_total, series.busy_seconds_total)
        spend.add_metric(labels, series.spend_usd_per_hour)

    burn = _gauge(
        "slo_burn_rate",
        "Error-budget burn rate of an SLO over one window of a window pair (1 spends the budget exactly over 30 "
        "days); the pair fires when both its windows burn faster than its threshold.",
        (*SLO_LABELS, "pair", "window"),
    )
    threshold = _gauge(
        "slo_burn_rate_threshold",
        "Burn rate above which a window pair fires, with its severity.",
        (*SLO_LABELS, "pair", "severity"),
    )
    objective = _gauge("slo_objective_ratio", "The SLO's target: the share of requests that must be good.", SLO_LABELS)
    latency_threshold = _gauge(
        "slo_latency_threshold_seconds", "A latency SLO's threshold: slower requests are bad events.", SLO_LABELS
    )
    for slo in snapshot.slos:
        labels = [slo.model, slo.slo]
        objective.add_metric(labels, slo.target)
        if slo.latency_threshold_s is not None:
            latency_threshold.add_metric(labels, slo.latency_threshold_s)
        pairs_seen = set()
        for rate in slo.burn_rates:
            burn.add_metric([*labels, rate.pair, rate.window], rate.burn_rate)
            if rate.pair not in pairs_seen:
                pairs_seen.add(rate.pair)
                threshold.add_metric([*labels, rate.pair, rate.severity], rate.factor)

    drift_labels = ("model", "version", "detector")
    drift_score = _gauge(
        "drift_score", "Share of the features judged in the latest drift window that drifted (0 to 1).", drift_labels
    )
    drifted = _gauge("drifted_features", "Features that drifted in the latest drift window.", drift_labels)
    for found in snapshot.drift:
        labels = [found.model, found.version, found.detector]
        drift_score.add_metric(labels, found.score)
        drifted.add_metric(labels, found.drifted_features)

    firing = _gauge(
        "alerts_firing",
        "Alerts firing now (acknowledged and silenced ones included).",
        ("model", "version", "alertname", "severity"),
    )
    for alerts in snapshot.alerts:
        firing.add_metric([alerts.model, alerts.version, alerts.alertname, alerts.severity], alerts.count)

    taken = _gauge(
        "metrics_snapshot_timestamp_seconds", "Unix time the per-model numbers were last read from the database."
    )
    taken.add_metric([], snapshot.taken_at_s)
    return [
        requests,
        errors,
        latency,
        spend,
        burn,
        threshold,
        objective,
        latency_threshold,
        drift_score,
        drifted,
        firing,
        taken,
    ]


class ModelMetricsCollector(Collector):
    """Renders the last snapshot; before the first one it exposes nothing."""

    def __init__(self) -> None:
        self.snapshot: ModelSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        """Called by the registry on every scrape, in the scrape's thread: no database access here."""
        snapshot = self.snapshot  # one read: a refresh may swap it meanwhile
        if snapshot is not None:
            yield from snapshot_metrics(snapshot)

    def describe(self) -> list[Metric]:
        """Nothing: describing would render a snapshot at registration, before there is one."""
        return []


class ModelMetricsRefresher(RunsPeriodically):
    """Refreshes the collector's snapshot on an interval; an async context manager."""

    def __init__(
        self,
        engine: Engine,
        options: SnapshotOptions,
        collector: ModelMetricsCollector,
        interval_s: float,
        observer: PassObserver | None = None,
    ) -> None:
        self._builder = ModelSnapshotBuilder(engine, options)
        self._collector = collector
        self._periodic = PeriodicPass(PASS_NAME, self.refresh, interval_s, observer)
        self.first_pass_done = self._periodic.first_pass_done

    def refresh(self) -> ModelSnapshot:
        """Build a snapshot and hand it to the collector."""
        snapshot = self._builder.build()
        self._collector.snapshot = snapshot
        return snapshot
