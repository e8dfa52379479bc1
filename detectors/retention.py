"""Retention: raw spans and rollups are pruned on their own clocks, by the detector pass.

Raw spans are only needed until they are rolled up (and for as long as someone wants to read them);
rollups feed every detector and the cost report, so they are kept much longer. A raw span is never pruned
while the rollup job may still recompute its interval, whatever the retention says: a rollup recomputed
from a half-pruned interval would silently undercount it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from collector.storage.tables import SpanRollupRow, SpanRow

DAY_S = 86400
NANOS = 1_000_000_000


@dataclass(frozen=True)
class RetentionOptions:
    """How long each kind of data is kept, in seconds; None keeps it forever."""

    raw_spans_s: int | None = 7 * DAY_S
    rollups_s: int | None = 90 * DAY_S

    def __post_init__(self) -> None:
        for name in ("raw_spans_s", "rollups_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"`{name}` must be > 0 or None (keep forever), got {value}")

    @classmethod
    def from_days(cls, raw_spans_days: float, rollups_days: float) -> RetentionOptions:
        """From the configuration's days, where 0 keeps forever."""
        return cls(
            raw_spans_s=round(raw_spans_days * DAY_S) or None,
            rollups_s=round(rollups_days * DAY_S) or None,
        )


@dataclass(frozen=True)
class Pruned:
    """What one pruning step deleted."""

    spans: int
    rollups: int


def prune(engine: Engine, now_s: float, options: RetentionOptions, recomputable_from_s: int | None) -> Pruned:
    """Delete spans and rollups past their retention; ``recomputable_from_s`` is where rollups may still change.

    With ``recomputable_from_s`` None (nothing rolled up yet) no span is pruned.
    """
    spans = rollups = 0
    with engine.begin() as connection:
        if options.raw_spans_s is not None and recomputable_from_s is not None:
            cutoff_s = min(int(now_s) - options.raw_spans_s, recomputable_from_s)
            spans = connection.execute(delete(SpanRow).where(SpanRow.start_unix_nano < cutoff_s * NANOS)).rowcount
        if options.rollups_s is not None:
            cutoff_s = int(now_s) - options.rollups_s
            rollups = connection.execute(
                delete(SpanRollupRow).where(SpanRollupRow.bucket_start_unix_s < cutoff_s)
            ).rowcount
    return Pruned(spans, rollups)
