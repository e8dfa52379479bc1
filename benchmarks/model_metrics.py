"""The /metrics per-model refresh over 1,000 models x 24 h of 1-minute rollups, beside one detector pass.

The data is detectors_scale.py's (1.44 million rollups; every tenth model with a latency and an availability
SLO), on a SQLite file. The refresh (``ModelSnapshotBuilder.build``) runs at the detector interval beside the
detector pass, in its own worker thread, so the baseline, measured in the same run on the same data, is that
pass (``DetectorScheduler.evaluate_once``): the refresh should cost a fraction of it. The process is taken to
have started at the beginning of the data, so the counters cover all 24 h: the first build sums the settled
part once, later builds read only the last ``SETTLED_AFTER_S``.

    python benchmarks/model_metrics.py [--models 1000] [--hours 24] [--db PATH]

It prints one table: seconds per part for the detector pass and for the first and a later refresh, and the
series the snapshot holds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.detectors_scale import END, build, options, scheduler_pass, timed
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from collector.core.storage.tables import SpanRollupRow
from collector.service.model_snapshot import ModelSnapshot, ModelSnapshotBuilder, SnapshotOptions


def series_count(snapshot: ModelSnapshot) -> int:
    """Samples the snapshot renders, roughly: five per traffic series plus quantiles, six per SLO window."""
    traffic = sum(5 + len(series.latency_s) for series in snapshot.traffic)
    slos = sum(4 + len(slo.burn_rates) * 2 for slo in snapshot.slos)
    return traffic + slos + 2 * len(snapshot.drift) + len(snapshot.alerts)


def main() -> None:
    """Build the data once, run the detector pass and two refreshes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--db", help="SQLite file to reuse (built when empty)")
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
    columns: list[tuple[str, dict[str, float]]] = []
    detector_stages: dict[str, float] = {}
    scheduler_pass(engine, opts, detector_stages)
    columns.append(("baseline: detector pass", detector_stages))
    builder = ModelSnapshotBuilder(
        engine, SnapshotOptions(pricing=opts.pricing, slos=opts.slos), started_s=END - args.hours * 3600
    )
    snapshot = None
    for name, now in (("refresh: first", END), ("refresh: a minute on", END + 60)):
        stages: dict[str, float] = {}
        snapshot = timed(stages, "total", partial(builder.build, now))
        stages.update({f"  {part}": seconds for part, seconds in builder.last_build_timings.items()})
        columns.append((name, stages))
    assert snapshot is not None
    print(
        f"{present:,} rollups: {args.models} models x {args.hours} h of 1-minute intervals, SQLite, "
        f"{len(opts.slos)} SLOs; the snapshot renders ~{series_count(snapshot):,} samples"
    )
    stages_seen = list(dict.fromkeys(stage for _, timings in columns for stage in timings))
    header = f"{'stage':<18}" + "".join(f"{name:>26}" for name, _ in columns)
    print(header)
    print("-" * len(header))
    for stage in stages_seen:
        cells = "".join(f"{timings[stage]:>25.2f}s" if stage in timings else f"{'':>26}" for _, timings in columns)
        print(f"{stage:<18}" + cells)
    engine.dispose()


if __name__ == "__main__":
    main()
