"""One detector pass over 1,000 models x 24 h of 1-minute rollups: latency, SLO burn and cost anomalies.

The data: per model one version, one operation, one hardware class, one rollup a minute for 24 hours
(1.44 million rollups), each with 30 requests, a latency summary, busy time and tokens. Half the models are
token-priced, every tenth has two SLOs; ten models step up in latency at the end and ten double their
tokens. The pass is ``DetectorScheduler.evaluate_once`` on a SQLite file, exactly as the service runs it;
generating and inserting the data is not timed.

The baseline, measured in the same run on the same data, is the plain loop over row objects that the
scheduler started from: every rollup loaded as an ORM row with its summary decoded, latency series merged
sketch by sketch, every SLO filtering all rollups for its model, cost summed rollup by rollup
(``baseline_pass``). It shares the detectors' own code below that level, so it gains from their speed-ups.

    python benchmarks/detectors_scale.py [--models 1000] [--hours 24] [--db PATH] [--skip-baseline]

It prints one table: seconds per stage and in all, for the baseline and for the scheduler's pass, and the
(detector, model) pairs each found firing, which must agree.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.core.pricing import Pricing, TokenPrice
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from collector.core.storage.tables import SpanRollupRow
from detectors.cost_anomaly import CostAnomalyDetector, CostAnomalyOptions
from detectors.latency import LatencyAnomalyDetector, LatencyOptions
from detectors.latency_pass import latency_series
from detectors.latency_sketch import LatencySketch
from detectors.rollups import STORED_QUANTILES, Rollup, RollupKey
from detectors.scheduler import DetectorScheduler, SchedulerOptions
from detectors.slo import SLO, evaluate_slo

END = 1_763_000_000 // 86400 * 86400  # midnight UTC: the pass evaluates the minute before it
REQUESTS = 30
T = TypeVar("T")


def models(count: int) -> list[str]:
    """Model names."""
    return [f"model-{n:04d}" for n in range(count)]


def options(count: int) -> SchedulerOptions:
    """Half the models token-priced, every tenth with a latency and an availability SLO."""
    names = models(count)
    pricing = Pricing(tokens={name: TokenPrice(2.5, 10.0) for name in names[::2]})
    slos = tuple(
        slo for name in names[::10] for slo in (SLO(name, "latency", 0.99, 300.0), SLO(name, "availability", 0.999))
    )
    return SchedulerOptions(slos=slos, pricing=pricing, cost=CostAnomalyOptions(window_s=3600))


def build(engine: Engine, count: int, hours: int) -> int:
    """Insert ``count`` models x ``hours`` of 1-minute rollups; returns how many rows."""
    rng = np.random.default_rng(0)
    # Sixteen latency summaries of 30 requests around 100 ms, reused: decoding cost is what matters.
    sketches = [LatencySketch.from_durations_ms(rng.lognormal(math.log(100.0), 0.1, REQUESTS)) for _ in range(16)]
    slow = LatencySketch.from_durations_ms(rng.lognormal(math.log(400.0), 0.1, REQUESTS))
    stored = [
        {"latency_sketch": sketch.to_bytes(), **{column: sketch.quantile(q) for q, column in STORED_QUANTILES.items()}}
        for sketch in [*sketches, slow]
    ]
    start = END - hours * 3600
    rows: list[dict[str, Any]] = []
    total = 0
    # Minute by minute, every model in each, as the rollup job writes them: the table's physical order is time.
    for minute in range(hours * 60):
        for index, name in enumerate(models(count)):
            # Something to find, so that "both passes agree" means something: every hundredth model quadruples
            # its latency for the last three minutes; those 50 past it double their tokens for the last hour.
            stepped = index % 100 == 0 and minute >= hours * 60 - 3
            pricier = 2 if index % 100 == 50 and minute >= hours * 60 - 60 else 1
            rows.append(
                {
                    "model_name": name,
                    "model_version": "1",
                    "operation": "predict",
                    "hardware_class": "nvidia-l4",
                    "interval_s": 60,
                    "bucket_start_unix_s": start + minute * 60,
                    "requests": REQUESTS,
                    "errors": (index + minute) % 97 == 0,
                    "busy_ns": REQUESTS * 100_000_000,
                    "input_tokens": REQUESTS * 800 * pricier,
                    "output_tokens": REQUESTS * 150 * pricier,
                    **stored[16 if stepped else (index * 7 + minute) % 16],
                }
            )
        if len(rows) >= 100_000:
            total += _insert(engine, rows)
            rows = []
    return total + _insert(engine, rows)


def _insert(engine: Engine, rows: list[dict[str, Any]]) -> int:
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(SpanRollupRow), rows)
    return len(rows)


def timed(into: dict[str, float], stage: str, work: Callable[[], T]) -> T:
    """Run ``work`` and add its seconds to ``into[stage]``; for the total, its CPU seconds too."""
    began, cpu = time.perf_counter(), time.process_time()
    result = work()
    into[stage] = into.get(stage, 0.0) + time.perf_counter() - began
    if stage == "total":
        # The machine is shared: CPU seconds of this process say what the pass costs whatever else runs.
        into["total (cpu)"] = time.process_time() - cpu
    return result


def baseline_load(engine: Engine, start_s: int, end_s: int) -> list[Rollup]:
    """Every rollup as an ORM row, decoded one by one (load_rollups as it first was)."""
    query = select(SpanRollupRow).where(
        SpanRollupRow.interval_s == 60,
        SpanRollupRow.bucket_start_unix_s >= start_s,
        SpanRollupRow.bucket_start_unix_s < end_s,
    )
    with engine.connect() as connection:
        return [
            Rollup(
                RollupKey(row.model_name, row.model_version, row.operation, row.hardware_class),
                row.interval_s,
                row.bucket_start_unix_s,
                row.requests,
                row.errors,
                row.busy_ns,
                row.input_tokens,
                row.output_tokens,
                LatencySketch.from_bytes(row.latency_sketch),
            )
            for row in connection.execute(query)
        ]


Fired = frozenset[tuple[str, str]]


def baseline_pass(engine: Engine, opts: SchedulerOptions, stages: dict[str, float]) -> Fired:
    """The plain loop; returns (detector, model) of what fires."""
    end = END
    rollups = timed(stages, "load", lambda: baseline_load(engine, end - opts.lookback_s, end))
    detector = LatencyAnomalyDetector(LatencyOptions())

    def latency() -> set[tuple[str, str]]:
        fired = set()
        evaluated_from = end - opts.state_intervals * 60
        for (model, _, _), points in latency_series(rollups, 0.95).items():
            history = [p for p in points if p.start_s < evaluated_from]
            recent = [p for p in points if p.start_s >= evaluated_from]
            verdicts = detector.evaluate(history, recent)
            if verdicts and verdicts[-1].firing:
                fired.add(("latency", model))
        return fired

    fired = timed(stages, "latency", latency)
    fired |= timed(
        stages, "slo", lambda: {("slo.burn", s.model_name) for s in opts.slos if evaluate_slo(s, rollups, end).firing}
    )
    cost = CostAnomalyDetector(opts.pricing, opts.cost)
    fired |= timed(stages, "cost", lambda: {("cost", v.model_name) for v in cost.evaluate(rollups, end) if v.firing})
    return frozenset(fired)


def scheduler_pass(engine: Engine, opts: SchedulerOptions, stages: dict[str, float]) -> Fired:
    """The scheduler's own pass, end to end, stages from its timings."""
    scheduler = DetectorScheduler(engine, opts)
    findings = timed(stages, "total", lambda: scheduler.evaluate_once(now_s=END + opts.rollup.settle_s))
    stages.update({f"  {name}": seconds for name, seconds in scheduler.last_pass_timings.items()})
    return frozenset((f.detector, f.model_name) for f in findings if f.firing)


def table(rows: Sequence[tuple[str, dict[str, float], Fired]]) -> str:
    """Stages as rows, runs as columns."""
    stages = list(dict.fromkeys(stage for _, timings, _ in rows for stage in timings))
    header = f"{'stage':<18}" + "".join(f"{name:>22}" for name, _, _ in rows)
    lines = [header, "-" * len(header)]
    for stage in stages:
        cells = "".join(f"{timings[stage]:>21.2f}s" if stage in timings else f"{'':>22}" for _, timings, _ in rows)
        lines.append(f"{stage:<18}" + cells)
    for detector in sorted({detector for _, _, fired in rows for detector, _ in fired}):
        counts = "".join(f"{sum(d == detector for d, _ in fired):>22}" for _, _, fired in rows)
        lines.append(f"{'firing ' + detector:<18}" + counts)
    agree = len({fired for _, _, fired in rows}) == 1
    lines.append(f"same (detector, model) pairs fire in every run: {'yes' if agree else 'NO'}")
    return "\n".join(lines)


def main() -> None:
    """Build the data once, run both passes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--db", help="SQLite file to reuse (built when empty)")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "scale.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = create_engine_for(url)
    with engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(SpanRollupRow)).scalar_one()
    if not present:
        began = time.perf_counter()
        present = build(engine, args.models, args.hours)
        print(f"built {present:,} rollups in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    opts = options(args.models)
    runs: list[tuple[str, dict[str, float], Fired]] = []
    if not args.skip_baseline:
        stages: dict[str, float] = {}
        fired = timed(stages, "total", lambda: baseline_pass(engine, opts, stages))
        runs.append(("baseline: plain loop", stages, fired))
    stages = {}
    runs.append(("scheduler pass", stages, scheduler_pass(engine, opts, stages)))
    print(
        f"{present:,} rollups: {args.models} models x {args.hours} h of 1-minute intervals, SQLite, "
        f"{len(opts.slos)} SLOs"
    )
    print(table(runs))
    engine.dispose()


if __name__ == "__main__":
    main()
