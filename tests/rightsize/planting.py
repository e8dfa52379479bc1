"""Planted inputs for right-sizing tests: day-night traffic in real rollups, shadow runs with known curves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from collector.core.storage.shadow_tables import ShadowRunRow, ShadowVariantResultRow
from collector.core.storage.tables import SpanRollupRow
from detectors.latency_sketch import LatencySketch

MODEL = "fraud"
VERSION = "v1"
DAY_RPS = 1000.0  # weekdays 08:00-20:00 UTC
NIGHT_RPS = 200.0  # weekday nights and all weekend
SERVICE_MS = 20.0  # what today's CPU replicas spend per request


def rate_at(unix_s: int) -> float:
    """The planted rate of the minute starting at ``unix_s``: day on weekdays 08-20 UTC, night otherwise."""
    moment = datetime.fromtimestamp(unix_s, tz=UTC)
    return DAY_RPS if moment.weekday() < 5 and 8 <= moment.hour < 20 else NIGHT_RPS


def plant_traffic(engine: Engine, start_s: int, end_s: int, hardware_class: str = "cpu") -> int:
    """One 60-second rollup per minute in [start_s, end_s) at the planted rate; returns the requests planted."""
    sketch = LatencySketch().to_bytes()
    rows: list[dict[str, Any]] = []
    total = 0
    for bucket in range(start_s, end_s, 60):
        requests = round(rate_at(bucket) * 60)
        total += requests
        rows.append(
            {
                "model_name": MODEL,
                "model_version": VERSION,
                "operation": "predict",
                "hardware_class": hardware_class,
                "interval_s": 60,
                "bucket_start_unix_s": bucket,
                "requests": requests,
                "errors": 0,
                "busy_ns": int(requests * SERVICE_MS * 1e6),
                "input_tokens": 0,
                "output_tokens": 0,
                "latency_sketch": sketch,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(SpanRollupRow), rows)
    return total


def curve(*points: tuple[int, float, float]) -> list[dict[str, Any]]:
    """A stored batch curve from (batch, mean ms, p99 ms), as shadow.result.CurvePoint serialises it."""
    return [
        {
            "batch": batch,
            "calls": 200,
            "p50_ms": mean_ms,
            "p99_ms": p99_ms,
            "rows_per_s": batch / (mean_ms / 1e3),
            "cost_per_1k_usd": None,
        }
        for batch, mean_ms, p99_ms in points
    ]


def measured(
    name: str, provider: str, hardware_class: str, points: list[dict[str, Any]], quality: str | None
) -> dict[str, Any]:
    """One stored variant result: its measurement with the batch curve, and the verdict's quality (None: baseline)."""
    verdict = None if quality is None else {"quality": quality, "keep_reason": None if quality == "pass" else "quality"}
    return {
        "name": name,
        "execution_provider": provider,
        "hardware_class": hardware_class,
        "metrics": {
            "key": name,
            "measurement": {"execution_provider": provider, "hardware_class": hardware_class, "batch_curve": points},
            "verdict": verdict,
        },
    }


def plant_shadow_run(engine: Engine, results: Sequence[dict[str, Any]], *, state: str = "succeeded") -> str:
    """A finished shadow run of fraud v1 with the given variant results; returns its id."""
    from sqlalchemy.orm import Session

    with Session(engine) as session, session.begin():
        run = ShadowRunRow(
            model_name=MODEL,
            model_version=VERSION,
            state=state,
            request={},
            finished_at=datetime.now(tz=UTC),
        )
        session.add(run)
        session.flush()
        for result in results:
            session.add(ShadowVariantResultRow(run_id=run.id, error=None, **result))
        return run.id


# Two hardware classes with known curves. CPU gains nothing from batching (batch 8 alone breaks the SLO);
# the T4 triples its throughput at batch 8. A faster int8 T4 variant failed its quality check.
CPU_BASELINE = measured("baseline", "CPUExecutionProvider", "cpu", curve((1, 20.0, 25.0), (8, 160.0, 200.0)), None)
CPU_INT8 = measured("int8-dynamic", "CPUExecutionProvider", "cpu", curve((1, 10.0, 12.0), (8, 80.0, 96.0)), "pass")
T4_FP16 = measured(
    "fp16@CUDAExecutionProvider", "CUDAExecutionProvider", "nvidia-t4", curve((1, 4.0, 5.0), (8, 8.0, 10.0)), "pass"
)
T4_INT8 = measured(
    "int8-dynamic@CUDAExecutionProvider",
    "CUDAExecutionProvider",
    "nvidia-t4",
    curve((1, 1.0, 1.5), (8, 2.0, 2.5)),
    "fail",
)
