"""Per-model series on /metrics: snapshots read from stored rollups, findings and alerts, rendered by the collector."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.findings import store_findings
from collector.core.pricing import Pricing, TokenPrice
from collector.core.storage.alert_tables import AlertRow
from collector.core.storage.engine import create_engine_for
from collector.ingest.cardinality import CardinalityLimits
from collector.service.model_metrics import ModelMetricsCollector
from collector.service.model_snapshot import SETTLED_AFTER_S, ModelSnapshot, ModelSnapshotBuilder, SnapshotOptions
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey, store_rollups
from detectors.slo import SLO

START = 1_800_000_000 // 3600 * 3600
NOW = START + 1800  # half an hour after the process started

Sample = tuple[str, dict[str, str], float]


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of either backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def rollup(
    model: str,
    bucket_s: int,
    *,
    version: str = "1",
    hardware: str = "cpu",
    latencies_ms: tuple[float, ...] = (100.0,) * 10,
    errors: int = 0,
    tokens: tuple[int, int] = (0, 0),
) -> Rollup:
    """One minute of one key with the given span durations."""
    durations = np.array(latencies_ms)
    return Rollup(
        RollupKey(model, version, "predict", hardware),
        60,
        bucket_s,
        len(latencies_ms),
        errors,
        int(durations.sum() * 1e6),
        tokens[0],
        tokens[1],
        LatencySketch.from_durations_ms(durations),
    )


def scrape(builder: ModelSnapshotBuilder, now_s: float) -> list[Sample]:
    """Build a snapshot and render it the way /metrics does; the samples of the per-model families."""
    collector = ModelMetricsCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    collector.snapshot = builder.build(now_s)
    text = generate_latest(registry).decode()
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample with this name whose labels include ``labels``."""
    (found,) = [v for n, have, v in samples if n == name and labels.items() <= have.items()]
    return found


def names(samples: list[Sample], name: str) -> list[dict[str, str]]:
    """The label sets of every sample with this name."""
    return [have for n, have, _ in samples if n == name]


def test_traffic_counters_quantiles_and_spend(engine: Engine) -> None:
    """Requests, errors, latency quantiles and spend per model, version and hardware class, from rollups."""
    store_rollups(
        engine,
        [
            rollup("fraud", NOW - 120, latencies_ms=(100.0,) * 90 + (400.0,) * 10, errors=5),
            rollup("fraud", NOW - 60, hardware="nvidia-t4", latencies_ms=(20.0,) * 50),
            rollup("fraud", NOW - 60, version="2", latencies_ms=(50.0,) * 4, errors=4),
            rollup("chat", NOW - 60, hardware="", latencies_ms=(1000.0,) * 2, tokens=(1_000_000, 100_000)),
            rollup("fraud", START - 60, latencies_ms=(100.0,) * 1000),  # before this process started: not counted
        ],
    )
    pricing = Pricing(tokens={"chat": TokenPrice(input_per_million=2.0, output_per_million=10.0)})
    builder = ModelSnapshotBuilder(engine, SnapshotOptions(pricing=pricing), started_s=START + 30)
    samples = scrape(builder, NOW)

    cpu = {"model": "fraud", "version": "1", "hardware_class": "cpu"}
    assert value(samples, "inferwatch_model_requests_total", **cpu) == 100
    assert value(samples, "inferwatch_model_errors_total", **cpu) == 5
    assert value(samples, "inferwatch_model_errors_total", model="fraud", version="2") == 4
    assert value(samples, "inferwatch_model_requests_total", hardware_class="nvidia-t4") == 50
    assert value(samples, "inferwatch_model_latency_seconds_count", **cpu) == 100
    assert value(samples, "inferwatch_model_latency_seconds_sum", **cpu) == pytest.approx(13.0)
    # Quantiles are within the sketch's 1% of the true values.
    assert value(samples, "inferwatch_model_latency_seconds", quantile="0.5", **cpu) == pytest.approx(0.1, rel=0.01)
    assert value(samples, "inferwatch_model_latency_seconds", quantile="0.99", **cpu) == pytest.approx(0.4, rel=0.01)
    # Spend is over the last hour, from before the process started too: 13 + 100 busy seconds on a $0.10/h CPU;
    # 50 x 20 ms on a $0.526/h T4.
    assert value(samples, "inferwatch_model_spend_usd_per_hour", **cpu) == pytest.approx(113 * 0.10 / 3600)
    assert value(samples, "inferwatch_model_spend_usd_per_hour", hardware_class="nvidia-t4") == pytest.approx(
        1.0 * 0.526 / 3600
    )
    # A token-priced model: 1M input at $2, 100k output at $10 per million; no hardware class label.
    chat = value(samples, "inferwatch_model_spend_usd_per_hour", model="chat")
    assert chat == pytest.approx(2.0 + 1.0)
    assert {"model": "chat", "version": "1", "hardware_class": ""} in names(
        samples, "inferwatch_model_spend_usd_per_hour"
    )
    assert value(samples, "inferwatch_model_metrics_snapshot_timestamp_seconds") == NOW


def test_counters_never_go_back_as_intervals_settle(engine: Engine) -> None:
    """Settled intervals are added once: totals hold as time passes, grow with new traffic, and old
    rollups stay out of the quantile and spend windows."""
    store_rollups(engine, [rollup("fraud", START + 60 * i) for i in range(30)])
    builder = ModelSnapshotBuilder(engine, SnapshotOptions(), started_s=START)
    first = value(scrape(builder, NOW), "inferwatch_model_requests_total")
    assert first == 300
    later = START + SETTLED_AFTER_S + 3600
    settled = scrape(builder, later)
    assert value(settled, "inferwatch_model_requests_total") == 300
    assert value(settled, "inferwatch_model_spend_usd_per_hour") == 0.0
    assert not names(settled, "inferwatch_model_latency_seconds")  # no traffic in the last 5 minutes
    store_rollups(engine, [rollup("fraud", later - 60)])
    assert value(scrape(builder, later), "inferwatch_model_requests_total") == 310
    assert value(scrape(builder, later + 60), "inferwatch_model_requests_total") == 310


def test_labels_past_the_limits_are_added_up_as_other_and_stay_there(engine: Engine) -> None:
    """With room for two models the two busiest keep their names, the rest is `other`; a newcomer does not
    push out a model already shown, and drift of a model past the limit is left out."""
    store_rollups(
        engine,
        [
            rollup("big", NOW - 60, latencies_ms=(10.0,) * 30),
            rollup("mid", NOW - 60, latencies_ms=(10.0,) * 20),
            rollup("small", NOW - 60, latencies_ms=(10.0,) * 5),
            rollup("mid", NOW - 60, version="2", latencies_ms=(10.0,) * 3),
            rollup("mid", NOW - 60, version="3", latencies_ms=(10.0,) * 2),
        ],
    )
    limits = CardinalityLimits(max_models=2, max_versions_per_model=2)
    builder = ModelSnapshotBuilder(engine, SnapshotOptions(limits=limits), started_s=START)
    samples = scrape(builder, NOW)
    requests = {
        (labels["model"], labels["version"]): v for n, labels, v in samples if n == "inferwatch_model_requests_total"
    }
    assert requests == {("big", "1"): 30, ("mid", "1"): 20, ("mid", "2"): 3, ("mid", "other"): 2, ("other", "1"): 5}

    store_rollups(engine, [rollup("huge", NOW, latencies_ms=(10.0,) * 500)])
    store_findings(engine, [drift_finding("small", NOW, share=0.5, drifted=["a"])])
    later = scrape(builder, NOW + 60)
    assert value(later, "inferwatch_model_requests_total", model="other", version="1") == 505
    assert not names(later, "inferwatch_model_drift_score")


def test_hardware_classes_past_the_limit_add_up_their_spend_and_latency_as_other(engine: Engine) -> None:
    """With room for one hardware class, the busiest keeps its name; the others' requests, spend and latency
    summaries are merged under `other`."""
    store_rollups(
        engine,
        [
            rollup("fraud", NOW - 60, hardware="cpu", latencies_ms=(100.0,) * 40),
            rollup("fraud", NOW - 60, hardware="nvidia-t4", latencies_ms=(10.0,) * 10),
            rollup("fraud", NOW - 60, hardware="nvidia-l4", latencies_ms=(30.0,) * 10),
        ],
    )
    limits = CardinalityLimits(max_hardware_classes=1)
    samples = scrape(ModelSnapshotBuilder(engine, SnapshotOptions(limits=limits), started_s=START), NOW)
    assert {labels["hardware_class"] for labels in names(samples, "inferwatch_model_requests_total")} == {
        "cpu",
        "other",
    }
    assert value(samples, "inferwatch_model_requests_total", hardware_class="other") == 20
    # Ten at 10 ms and ten at 30 ms merged: the p99 is the slower class's.
    assert value(samples, "inferwatch_model_latency_seconds", hardware_class="other", quantile="0.99") == (
        pytest.approx(0.03, rel=0.01)
    )
    assert value(samples, "inferwatch_model_spend_usd_per_hour", hardware_class="other") == pytest.approx(
        (0.1 * 0.526 + 0.3 * 0.805) / 3600
    )


def test_burn_rate_per_window_of_each_pair(engine: Engine) -> None:
    """10% errors for the last five minutes against 99.9%: 100x over 5 min, less over the longer windows."""
    store_rollups(engine, [rollup("fraud", NOW - 60 * i, errors=1) for i in range(5)])
    slos = (SLO("fraud", "availability", 0.999), SLO("fraud", "latency", 0.99, 50.0))
    samples = scrape(ModelSnapshotBuilder(engine, SnapshotOptions(slos=slos), started_s=START), NOW + 59)
    burn = "inferwatch_model_slo_burn_rate"
    availability = {"model": "fraud", "slo": "availability@99.9%"}
    assert value(samples, burn, pair="1h/5m", window="5m", **availability) == pytest.approx(100.0)
    assert value(samples, burn, pair="1h/5m", window="1h", **availability) == pytest.approx(100.0)
    assert value(samples, burn, pair="6h/30m", window="6h", **availability) == pytest.approx(100.0)
    assert value(samples, burn, pair="3d/6h", window="6h", **availability) == pytest.approx(100.0)
    assert len(names(samples, burn)) == 2 * 6
    threshold = "inferwatch_model_slo_burn_rate_threshold"
    assert value(samples, threshold, pair="1h/5m", severity="critical", **availability) == 14.4
    assert value(samples, threshold, pair="3d/6h", severity="warning", **availability) == 1.0
    # Every request at 100 ms is over a 50 ms threshold: 100% bad against a 1% budget.
    latency = {"model": "fraud", "slo": "latency<50ms@99%"}
    assert value(samples, burn, pair="1h/5m", window="5m", **latency) == pytest.approx(100.0)
    assert value(samples, "inferwatch_model_slo_latency_threshold_seconds", **latency) == 0.05
    assert value(samples, "inferwatch_model_slo_objective_ratio", **availability) == 0.999
    assert not [
        labels for labels in names(samples, "inferwatch_model_slo_latency_threshold_seconds") if labels == availability
    ]


def drift_finding(model: str, end_s: int, *, share: float | None, drifted: list[str], version: str = "1") -> Finding:
    """A drift.data finding for the hour ending at ``end_s``; ``share`` None is a window without enough data."""
    return Finding(
        detector="drift.data",
        model_name=model,
        model_version=version,
        subject="",
        severity="warning" if drifted else "info",
        firing=bool(drifted),
        window_start=datetime.fromtimestamp(end_s - 3600, UTC),
        window_end=datetime.fromtimestamp(end_s, UTC),
        summary="s",
        value=share,
        details={"report": {"drifted_features": drifted}} if share is not None else {"enough_data": False},
    )


def test_drift_score_and_count_of_the_latest_window(engine: Engine) -> None:
    """The newest drift window counts; a newest window without enough data shows no score."""
    store_findings(
        engine,
        [
            drift_finding("fraud", NOW - 3600, share=0.0, drifted=[]),
            drift_finding("fraud", NOW, share=0.5, drifted=["amount", "age"]),
            drift_finding("idle", NOW - 3600, share=0.25, drifted=["x"]),
            drift_finding("idle", NOW, share=None, drifted=[]),
        ],
    )
    samples = scrape(ModelSnapshotBuilder(engine, SnapshotOptions(), started_s=START), NOW)
    labels = {"model": "fraud", "version": "1", "detector": "drift.data"}
    assert value(samples, "inferwatch_model_drift_score", **labels) == 0.5
    assert value(samples, "inferwatch_model_drifted_features", **labels) == 2
    assert [found["model"] for found in names(samples, "inferwatch_model_drift_score")] == ["fraud"]


def test_firing_alerts_by_model_version_and_name(engine: Engine) -> None:
    """Firing alerts are counted per model, version, alert name and severity; resolved ones are not."""
    at = datetime.fromtimestamp(NOW, UTC)
    rows = [
        ("a", "firing", {"alertname": "ModelDataDrift", "model": "fraud", "version": "1", "severity": "warning"}),
        ("b", "firing", {"alertname": "ModelDataDrift", "model": "fraud", "version": "1", "severity": "warning",
                         "subject": "x"}),
        ("c", "firing", {"alertname": "ModelSLOBurn", "model": "fraud", "severity": "critical"}),
        ("d", "resolved", {"alertname": "ModelSLOBurn", "model": "chat", "severity": "critical"}),
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(
            insert(AlertRow),
            [{"fingerprint": f, "labels": labels, "state": state, "starts_at": at} for f, state, labels in rows],
        )
    samples = scrape(ModelSnapshotBuilder(engine, SnapshotOptions(), started_s=START), NOW)
    firing = "inferwatch_model_alerts_firing"
    assert value(samples, firing, model="fraud", version="1", alertname="ModelDataDrift") == 2
    assert value(samples, firing, model="fraud", alertname="ModelSLOBurn", severity="critical") == 1
    assert len(names(samples, firing)) == 2


def test_nothing_before_the_first_snapshot_and_every_name_after() -> None:
    """A scrape before the first refresh shows no per-model family; afterwards every family is listed, empty
    or not, so dashboards and rules can tell "no traffic" from "not exported"."""
    collector = ModelMetricsCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    assert b"inferwatch_model_" not in generate_latest(registry)
    collector.snapshot = ModelSnapshot(taken_at_s=NOW, counting_since_s=START)
    text = generate_latest(registry).decode()
    listed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert listed == {
        "inferwatch_model_requests_total",
        "inferwatch_model_errors_total",
        "inferwatch_model_latency_seconds",
        "inferwatch_model_spend_usd_per_hour",
        "inferwatch_model_slo_burn_rate",
        "inferwatch_model_slo_burn_rate_threshold",
        "inferwatch_model_slo_objective_ratio",
        "inferwatch_model_slo_latency_threshold_seconds",
        "inferwatch_model_drift_score",
        "inferwatch_model_drifted_features",
        "inferwatch_model_alerts_firing",
        "inferwatch_model_metrics_snapshot_timestamp_seconds",
    }


def test_every_exposed_name_is_documented_in_the_readme() -> None:
    """The README's per-model table names every sample name /metrics can show, with its suffixes."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Per-model metrics")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `(inferwatch_model_\w+)` \|", section, flags=re.MULTILINE))
    collector = ModelMetricsCollector()
    collector.snapshot = ModelSnapshot(taken_at_s=NOW, counting_since_s=START)
    exposed = {family.name for family in collector.collect()}
    # prometheus_client names a counter family without its _total suffix.
    assert {name if name in documented else name + "_total" for name in exposed} == documented
