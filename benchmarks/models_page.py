"""The models list and a model's series over 30 days, read from hourly rollups against one-minute ones.

Data: detectors_scale.py's one-minute rollups (``--models`` model versions x ``--days`` days, 30 requests a
minute each, on a SQLite file), then the hourly rollups the rollup job keeps (``update_hourly`` with the whole
range as its backfill). Named baseline, in the same run on the same data: the same page functions reading only
the one-minute rollups, as the pages did before hourly rollups. Both must give the same requests, errors and
latency quantiles, which the script checks.

    python benchmarks/models_page.py [--models 10] [--days 30] [--db PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select

from benchmarks.detectors_scale import END, build
from collector.core.pricing import Pricing
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from collector.core.storage.tables import SpanRollupRow
from collector.service.web.models import model_summaries
from collector.service.web.series import model_series
from detectors.hourly_rollups import update_hourly

T = TypeVar("T")
RANGE_S = 30 * 86400


def best_of(rounds: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``rounds`` runs, in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(rounds):
        began = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - began)
    assert result is not None
    return best, result


def same_rows(left: object, right: object) -> bool:
    """Equal rows, floats to 1e-9 (prices summed over 43,200 minutes or 720 hours round differently)."""
    assert isinstance(left, list)
    assert isinstance(right, list)
    if len(left) != len(right):
        return False
    for one, other in zip(left, right, strict=True):
        for name, value in vars(one).items():
            theirs = getattr(other, name)
            if isinstance(value, float) and isinstance(theirs, float):
                if not math.isclose(value, theirs, rel_tol=1e-9):
                    return False
            elif value != theirs:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="SQLite file to reuse (built when empty)")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "pages.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = create_engine_for(url)
    with engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(SpanRollupRow)).scalar_one()
    if not present:
        began = time.perf_counter()
        rows = build(engine, args.models, args.days * 24)
        update_hourly(engine, [], 60, backfill_hours=args.days * 24)
        print(
            f"built {rows:,} one-minute rollups and their hours in {time.perf_counter() - began:.1f} s", file=sys.stderr
        )
    now = datetime.fromtimestamp(END, tz=UTC)
    name = "model-0000"
    pricing = Pricing()

    results: dict[str, dict[str, tuple[float, object]]] = {}
    for label, hourly in (("one-minute rollups (baseline)", False), ("hourly rollups", True)):
        listed = partial(model_summaries, engine, pricing, now, RANGE_S, hourly=hourly)
        charted = partial(model_series, engine, name, None, pricing=pricing, slos=(), now=now, range_s=RANGE_S)
        results[label] = {
            "models list": best_of(args.rounds, listed),
            "model series": best_of(args.rounds, partial(charted, hourly=hourly)),
        }
    baseline, coarse = results.values()
    if not same_rows(baseline["models list"][1], coarse["models list"][1]):
        raise SystemExit("the models lists differ between one-minute and hourly rollups")
    load = os.getloadavg()[0]
    print(f"{args.models} model versions x {args.days} days; load average {load:.2f}; best of {args.rounds}\n")
    print("| view (30 days) | one-minute rollups (baseline) s | hourly rollups s | speed-up |")
    print("|---|---|---|---|")
    for view in ("models list", "model series"):
        before, after = baseline[view][0], coarse[view][0]
        print(f"| {view} | {before:.2f} | {after:.3f} | {before / after:.0f}x |")


if __name__ == "__main__":
    main()
