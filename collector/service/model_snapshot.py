"""Per-model numbers for ``/metrics``, read from rollups, findings and alerts into one immutable snapshot.

A periodic pass builds the snapshot off the event loop; a scrape only renders the last one
(``collector.service.model_metrics``), so a scrape never waits on the database. What it holds:

- traffic per model, version and hardware class: requests, errors and busy time since this process started
  (counters: a restart resets them, as Prometheus expects of any process's counter), latency quantiles over
  the last ``LATENCY_WINDOW_S`` and spend over the last hour;
- per configured SLO, the burn rate of every window of every window pair;
- per model version with a drift reference, the latest drift score and drifted-feature count per detector;
- firing alerts per model, version, alert name and severity.

Labels are bounded by the ingest cardinality limits: past them traffic and alerts are added up under
``other``, and drift series are left out (one score for several unrelated versions means nothing).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.core.pricing import Pricing
from collector.core.storage.alert_tables import AlertRow
from collector.core.storage.tables import FindingRow, SpanRollupRow
from collector.ingest.cardinality import OTHER, CardinalityLimiter, CardinalityLimits
from collector.service.model_burn import BurnReader, SLOSeries
from detectors.drift.monitor import DATA, MULTIVARIATE, PREDICTION
from detectors.latency_sketch import LatencySketch
from detectors.rollups import load_rollups
from detectors.slo import SLO

# Latency quantiles describe the recent past, like a client library's summary (whose default is 10 min).
LATENCY_WINDOW_S = 300
LATENCY_QUANTILES = (0.5, 0.95, 0.99)
SPEND_WINDOW_S = 3600
# Counters add up settled intervals once and re-read only the newer ones each pass, so a pass reads at most
# this much (plus one pass) of rollups however long the process runs. Spans that arrive later than this for
# an interval still reach the rollups and detectors, but no longer these counters.
SETTLED_AFTER_S = 6 * 3600
DRIFT_DETECTORS = (DATA, PREDICTION, MULTIVARIATE)

SeriesKey = tuple[str, str, str]  # model, version, hardware class
T = TypeVar("T")


@dataclass(frozen=True)
class TrafficSeries:
    """One model version on one hardware class."""

    model: str
    version: str
    hardware_class: str
    requests_total: int
    errors_total: int
    busy_seconds_total: float
    # Seconds by quantile over the last LATENCY_WINDOW_S; empty when that window had no traffic.
    latency_s: Mapping[float, float]
    spend_usd_per_hour: float


@dataclass(frozen=True)
class DriftSeries:
    """The latest judged window of one drift detector on one model version."""

    model: str
    version: str
    detector: str
    score: float
    drifted_features: int


@dataclass(frozen=True)
class FiringAlerts:
    """How many alerts with these labels fire."""

    model: str
    version: str
    alertname: str
    severity: str
    count: int


@dataclass(frozen=True)
class ModelSnapshot:
    """Everything ``/metrics`` shows per model, as of ``taken_at_s``."""

    taken_at_s: float
    counting_since_s: int
    traffic: tuple[TrafficSeries, ...] = ()
    slos: tuple[SLOSeries, ...] = ()
    drift: tuple[DriftSeries, ...] = ()
    alerts: tuple[FiringAlerts, ...] = ()


@dataclass
class _Sums:
    requests: int = 0
    errors: int = 0
    busy_ns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, other: _Sums) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.busy_ns += other.busy_ns
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens


@dataclass(frozen=True)
class SnapshotOptions:
    """What the snapshot is computed with: the service's pricing, SLOs, limits and rollup interval."""

    pricing: Pricing = field(default_factory=Pricing)
    slos: tuple[SLO, ...] = ()
    limits: CardinalityLimits = field(default_factory=CardinalityLimits)
    interval_s: int = 60


class ModelSnapshotBuilder:
    """Builds snapshots; keeps the settled part of the counters and the admitted labels between passes.

    Not thread-safe: one periodic pass calls ``build``.
    """

    def __init__(self, engine: Engine, options: SnapshotOptions, started_s: float | None = None) -> None:
        self._engine = engine
        self.options = options
        interval = options.interval_s
        # Counted from the interval the process started in: the whole of it, as its rollup is one row.
        self.counting_since_s = int(time.time() if started_s is None else started_s) // interval * interval
        self._settled: dict[SeriesKey, _Sums] = defaultdict(_Sums)
        self._settled_until = self.counting_since_s
        # Labels admitted once stay admitted, so a series does not move in and out of `other`.
        self._labels = CardinalityLimiter(options.limits)
        self.last_build_timings: dict[str, float] = {}
        self._burn = BurnReader(engine, options.slos, interval, SETTLED_AFTER_S)

    def build(self, now_s: float | None = None) -> ModelSnapshot:
        """A snapshot as of ``now_s``; ``last_build_timings`` has the seconds of each part."""
        now = time.time() if now_s is None else now_s
        timings: dict[str, float] = {}

        def timed(part: str, read: Callable[[], T]) -> T:
            began = time.perf_counter()
            result = read()
            timings[part] = time.perf_counter() - began
            return result

        snapshot = ModelSnapshot(
            taken_at_s=now,
            counting_since_s=self.counting_since_s,
            traffic=timed("traffic", lambda: self._traffic(now)),
            slos=timed("slo", lambda: self._burn.read(now)),
            drift=timed("drift", self._drift),
            alerts=timed("alerts", self._alerts),
        )
        # For the scale benchmark (benchmarks/model_metrics.py).
        self.last_build_timings = timings
        return snapshot

    def _sums(self, start_s: int, end_s: int | None = None) -> dict[SeriesKey, _Sums]:
        """Rollup sums per (model, version, hardware class) over buckets from ``start_s`` (to ``end_s``)."""
        query = (
            select(
                SpanRollupRow.model_name,
                SpanRollupRow.model_version,
                SpanRollupRow.hardware_class,
                func.sum(SpanRollupRow.requests),
                func.sum(SpanRollupRow.errors),
                func.sum(SpanRollupRow.busy_ns),
                func.sum(SpanRollupRow.input_tokens),
                func.sum(SpanRollupRow.output_tokens),
            )
            .where(SpanRollupRow.interval_s == self.options.interval_s, SpanRollupRow.bucket_start_unix_s >= start_s)
            .group_by(SpanRollupRow.model_name, SpanRollupRow.model_version, SpanRollupRow.hardware_class)
        )
        if end_s is not None:
            query = query.where(SpanRollupRow.bucket_start_unix_s < end_s)
        with self._engine.connect() as connection:
            return {
                (model, version, hardware): _Sums(*(int(value or 0) for value in sums))
                for model, version, hardware, *sums in connection.execute(query)
            }

    def _fold(self, keys: Iterable[SeriesKey], weight: Mapping[SeriesKey, int]) -> dict[SeriesKey, SeriesKey]:
        """Each key's labels within the limits; new keys are admitted busiest first, so a burst of made-up
        names cannot take the place of the models that carry the traffic."""
        ordered = sorted(set(keys), key=lambda key: (-weight.get(key, 0), key))
        return {key: self._labels.series_labels(*key) for key in ordered}

    def _traffic(self, now: float) -> tuple[TrafficSeries, ...]:
        interval = self.options.interval_s
        settle_to = int(now - SETTLED_AFTER_S) // interval * interval
        if settle_to > self._settled_until:
            for key, sums in self._sums(self._settled_until, settle_to).items():
                self._settled[key].add(sums)
            self._settled_until = settle_to
        totals: dict[SeriesKey, _Sums] = defaultdict(_Sums)
        for key, sums in self._settled.items():
            totals[key].add(sums)
        for key, sums in self._sums(self._settled_until).items():
            totals[key].add(sums)
        hour = self._sums(int(now) - SPEND_WINDOW_S)
        sketches: dict[SeriesKey, LatencySketch] = {}
        for rollup in load_rollups(self._engine, int(now) - LATENCY_WINDOW_S, int(now) + interval, interval):
            key = (rollup.key.model_name, rollup.key.model_version, rollup.key.hardware_class)
            sketches[key] = sketches[key].merge(rollup.latency) if key in sketches else rollup.latency

        folded = self._fold([*totals, *hour, *sketches], {key: sums.requests for key, sums in hour.items()})
        merged_totals: dict[SeriesKey, _Sums] = defaultdict(_Sums)
        for key, sums in totals.items():
            merged_totals[folded[key]].add(sums)
        spend: dict[SeriesKey, float] = defaultdict(float)
        for key, sums in hour.items():
            cost = self.options.pricing.cost(key[0], key[2], sums.busy_ns, sums.input_tokens, sums.output_tokens)
            spend[folded[key]] += cost.total_usd * 3600 / SPEND_WINDOW_S
        merged_sketches: dict[SeriesKey, LatencySketch] = {}
        for key, sketch in sketches.items():
            into = folded[key]
            merged_sketches[into] = merged_sketches[into].merge(sketch) if into in merged_sketches else sketch
        series = []
        for key in sorted(set(merged_totals) | set(spend) | set(merged_sketches)):
            sums = merged_totals.get(key, _Sums())
            recent = merged_sketches.get(key)
            latency = {q: recent.quantile(q) / 1000 for q in LATENCY_QUANTILES} if recent and recent.total else {}
            series.append(
                TrafficSeries(
                    *key,
                    requests_total=sums.requests,
                    errors_total=sums.errors,
                    busy_seconds_total=sums.busy_ns / 1e9,
                    latency_s=latency,
                    spend_usd_per_hour=spend.get(key, 0.0),
                )
            )
        return tuple(series)

    def _drift(self) -> tuple[DriftSeries, ...]:
        """The newest drift finding per detector and model version; one without a score is not enough data."""
        keys = (FindingRow.detector, FindingRow.model_name, FindingRow.model_version)
        latest = (
            select(*keys, func.max(FindingRow.window_end).label("last"))
            .where(FindingRow.detector.in_(DRIFT_DETECTORS))
            .group_by(*keys)
            .subquery()
        )
        query = select(*keys, FindingRow.value, FindingRow.details).join(
            latest,
            (FindingRow.detector == latest.c.detector)
            & (FindingRow.model_name == latest.c.model_name)
            & (FindingRow.model_version == latest.c.model_version)
            & (FindingRow.window_end == latest.c.last),
        )
        with self._engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(query)]
        folded = self._fold([(model, version, "") for _, model, version, _, _ in rows], {})
        series = []
        for detector, model, version, value, details in sorted(rows, key=lambda row: row[:3]):
            labels = folded[(model, version, "")]
            if value is None or OTHER in labels[:2]:
                continue
            drifted = (details or {}).get("report", {}).get("drifted_features", [])
            series.append(DriftSeries(model, version, detector, float(value), len(drifted)))
        return tuple(series)

    def _alerts(self) -> tuple[FiringAlerts, ...]:
        with self._engine.connect() as connection:
            labels = [
                row[0] or {} for row in connection.execute(select(AlertRow.labels).where(AlertRow.state == "firing"))
            ]
        keys = [(str(found.get("model", "")), str(found.get("version", "")), "") for found in labels]
        folded = self._fold(keys, {})
        counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
        for key, found in zip(keys, labels, strict=True):
            model, version, _ = folded[key]
            counts[(model, version, str(found.get("alertname", "")), str(found.get("severity", "")))] += 1
        return tuple(FiringAlerts(*key, count=count) for key, count in sorted(counts.items()))
