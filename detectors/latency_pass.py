"""The latency part of a detector pass: series from stored rollups, quiet intervals pooled, one finding per
series for the last full interval, worded for what the verdict is (firing, warming up, cooling down)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from detectors.frame import RollupFrame, latency_columns, quiet_sketches
from detectors.latency import LatencyAnomalyDetector, LatencyPoint, LatencyVerdict
from detectors.latency_pool import needs_pooling, pool_points
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, load_rollups

LATENCY = "latency"
SeriesKey = tuple[str, str, str]


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _clock(seconds: int) -> str:
    return f"{_utc(seconds):%Y-%m-%d %H:%M} UTC"


def latency_intervals(rollups: Sequence[Rollup]) -> dict[SeriesKey, list[tuple[int, int, LatencySketch]]]:
    """Per (model, version, operation), (start, requests, summary) per interval in time order, hardware
    classes merged."""
    merged: dict[SeriesKey, dict[int, tuple[int, LatencySketch]]] = defaultdict(dict)
    for rollup in rollups:
        key = (rollup.key.model_name, rollup.key.model_version, rollup.key.operation)
        requests, sketch = merged[key].get(rollup.bucket_start_unix_s, (0, LatencySketch()))
        merged[key][rollup.bucket_start_unix_s] = (requests + rollup.requests, sketch.merge(rollup.latency))
    return {
        key: [(start, requests, sketch) for start, (requests, sketch) in sorted(by.items())]
        for key, by in merged.items()
    }


def latency_series(rollups: Sequence[Rollup], quantile: float) -> dict[SeriesKey, list[LatencyPoint]]:
    """Per (model, version, operation), one point per interval, merging hardware classes (no pooling)."""
    return {
        key: [LatencyPoint(start, requests, sketch.quantile(quantile)) for start, requests, sketch in intervals]
        for key, intervals in latency_intervals(rollups).items()
    }


def latency_finding(key: SeriesKey, verdict: LatencyVerdict, interval_s: int, quantile: float) -> Finding:
    """A latency verdict as a finding, saying value, expected band, how many spreads off, and since when.

    A verdict still firing while back in band (hysteresis) says it is cooling down and when it was out of
    band, so the alert it keeps firing does not read as an in-band measurement.
    """
    model, version, operation = key
    label = f"p{quantile * 100:g}"
    end_s = verdict.end_s if verdict.end_s is not None else verdict.start_s + interval_s
    pooled = end_s - verdict.start_s > interval_s
    over = f" over {(end_s - verdict.start_s) // 60} min ({verdict.requests} requests)" if pooled else ""
    subject = f"{label} latency of {operation or 'all operations'}"
    band = (
        f"expected {verdict.expected_ms:.0f} ms (band {verdict.band_low_ms:.0f}-{verdict.band_high_ms:.0f} ms)"
        if verdict.baseline.points
        else "no baseline yet"
    )
    if verdict.cooling_down and verdict.since_s is not None:
        last = verdict.last_out_of_band_s if verdict.last_out_of_band_s is not None else verdict.since_s
        summary = (
            f"{subject} cooling down: out of band from {_clock(verdict.since_s)} to {_clock(last + interval_s)}; "
            f"now back in band at {verdict.value_ms:.0f} ms{over}, {band}"
        )
    else:
        shift = " (sustained level shift)" if verdict.level_shift and not verdict.anomalous else ""
        spreads = f", {verdict.z:+.1f} spreads" if verdict.baseline.points else ""
        since = f", since {_clock(verdict.since_s)}" if verdict.firing and verdict.since_s else ""
        summary = f"{subject} is {verdict.value_ms:.0f} ms{over}, {band}{spreads}{shift}{since}"
    if verdict.warming_up:
        learned = f"baseline from the {verdict.baseline.points} points so far" if verdict.baseline.points else ""
        threshold = "above the SLO latency threshold" if verdict.over_slo_threshold else ""
        summary += f"; warming up ({', '.join(part for part in (threshold, learned) if part)})"
    details: dict[str, object] = {
        "quantile": quantile,
        "cusum": verdict.cusum,
        "level_shift": verdict.level_shift,
        "requests": verdict.requests,
        "seasonality": verdict.baseline.seasonality,
        "baseline_points": verdict.baseline.points,
        "warming_up": verdict.warming_up,
        "over_slo_threshold": verdict.over_slo_threshold,
        "cooling_down": verdict.cooling_down,
        "pooled_intervals_s": end_s - verdict.start_s,
    }
    if verdict.baseline.points:
        details["z"] = verdict.z
    if verdict.last_out_of_band_s is not None:
        details["last_out_of_band"] = _utc(verdict.last_out_of_band_s).isoformat()
    return Finding(
        detector=LATENCY,
        model_name=model,
        model_version=version,
        subject=operation,
        severity="warning",
        firing=verdict.firing,
        window_start=_utc(verdict.start_s),
        window_end=_utc(end_s),
        summary=summary,
        value=verdict.value_ms,
        expected=verdict.expected_ms,
        band_low=verdict.band_low_ms,
        band_high=verdict.band_high_ms,
        details=details,
        since=_utc(verdict.since_s) if verdict.since_s else None,
    )


def latency_findings(
    engine: Engine,
    detector: LatencyAnomalyDetector,
    frame: RollupFrame,
    *,
    start: int,
    end: int,
    evaluated_from: int,
    slo_thresholds_ms: Mapping[str, float],
) -> list[Finding]:
    """One finding per series whose newest point ends at ``end`` (the last full interval).

    Busy series are read from the stored quantiles; a series with quiet intervals reads the summaries of
    those intervals only, to pool them; a series over several hardware classes merges every summary.
    """
    options = detector.options
    interval = frame.interval_s
    ready, merge = latency_columns(frame)
    quiet = (
        quiet_sketches(engine, start, end, interval, options.min_requests)
        if any(needs_pooling(series.requests, options.min_requests) for series in ready)
        else {}
    )
    findings: list[Finding] = []

    def judge(key: SeriesKey, verdicts: Sequence[LatencyVerdict]) -> None:
        if verdicts and _end(verdicts[-1], interval) == end:
            findings.append(latency_finding(key, verdicts[-1], interval, options.quantile))

    pooled: list[tuple[SeriesKey, list[LatencyPoint]]] = []
    for series in ready:
        threshold = slo_thresholds_ms.get(series.key[0])
        if needs_pooling(series.requests, options.min_requests):
            points = pool_points(
                series.start_s,
                series.requests,
                series.value_ms,
                quiet.get(series.key, {}),
                end_s=end,
                interval_s=interval,
                min_requests=options.min_requests,
                max_pool_s=options.max_pool_s,
                quantile=options.quantile,
            )
            pooled.append((series.key, points))
            continue
        split = int(np.searchsorted(series.start_s, evaluated_from))
        recent = [
            LatencyPoint(int(start_s), int(requests), float(value))
            for start_s, requests, value in zip(
                series.start_s[split:].tolist(),
                series.requests[split:].tolist(),
                series.value_ms[split:].tolist(),
                strict=True,
            )
        ]
        if recent:
            baselines = detector.baselines_of(
                series.start_s[:split], series.requests[:split], series.value_ms[:split], recent[0].start_s
            )
            judge(series.key, detector.walk(baselines, recent, slo_threshold_ms=threshold))
    if merge:
        # Series over several hardware classes (or without stored quantiles) merge their summaries.
        rollups = load_rollups(engine, start, end, interval, model_names={model for model, _, _ in merge})
        for key, intervals in latency_intervals(rollups).items():
            if key not in merge:
                continue
            starts = np.array([start_s for start_s, _, _ in intervals], dtype=np.int64)
            requests = np.array([count for _, count, _ in intervals], dtype=np.int64)
            values = np.array([sketch.quantile(options.quantile) for _, _, sketch in intervals])
            sketches = {start_s: sketch for start_s, count, sketch in intervals if count < options.min_requests}
            points = pool_points(
                starts,
                requests,
                values,
                sketches,
                end_s=end,
                interval_s=interval,
                min_requests=options.min_requests,
                max_pool_s=options.max_pool_s,
                quantile=options.quantile,
            )
            pooled.append((key, points))
    for key, points in pooled:
        history = [point for point in points if point.start_s < evaluated_from]
        recent = [point for point in points if point.start_s >= evaluated_from]
        judge(key, detector.evaluate(history, recent, slo_threshold_ms=slo_thresholds_ms.get(key[0])))
    return findings


def _end(verdict: LatencyVerdict, interval_s: int) -> int:
    return verdict.end_s if verdict.end_s is not None else verdict.start_s + interval_s
