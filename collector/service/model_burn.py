"""SLO burn rates for ``/metrics``: every window of every pair, up to now, decoding each minute's summaries once.

A latency SLO counts requests over its threshold from the rollups' latency summaries, and the longest window
is three days: decoding three days of summaries on every refresh would cost as much as the detector pass
itself. Minutes older than ``settled_after_s`` no longer change (the counters of ``model_snapshot`` make
the same cut), so their bad and total counts are kept between refreshes and only newer rollups are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine

from detectors.rollups import Rollup, load_rollups
from detectors.slo import BURN_WINDOWS, SLO, burn_rate

LONGEST_S = max(window.long_s for window in BURN_WINDOWS)


@dataclass(frozen=True)
class BurnRate:
    """One window of one window pair of an SLO."""

    pair: str
    window: str
    severity: str
    factor: float
    burn_rate: float


@dataclass(frozen=True)
class SLOSeries:
    """An SLO's objective and burn."""

    model: str
    slo: str
    target: float
    latency_threshold_s: float | None
    burn_rates: tuple[BurnRate, ...]


@dataclass(frozen=True)
class _Minutes:
    """Bad and total events of one SLO per minute, oldest first."""

    starts: np.ndarray
    bad: np.ndarray
    total: np.ndarray

    @classmethod
    def of(cls, slo: SLO, rollups: list[Rollup]) -> _Minutes:
        """The SLO's events in ``rollups`` (of any models), summed per minute."""
        own = [rollup for rollup in rollups if rollup.key.model_name == slo.model_name]
        if slo.kind == "availability":
            bad = [rollup.errors for rollup in own]
        else:
            assert slo.latency_threshold_ms is not None
            bad = [rollup.latency.count_above(slo.latency_threshold_ms) for rollup in own]
        starts, where = np.unique(np.array([r.bucket_start_unix_s for r in own], dtype=np.int64), return_inverse=True)
        return cls(
            starts,
            np.bincount(where, weights=bad, minlength=len(starts)).astype(np.int64),
            np.bincount(where, weights=[r.requests for r in own], minlength=len(starts)).astype(np.int64),
        )

    def then(self, newer: _Minutes) -> _Minutes:
        """These minutes followed by ``newer`` ones."""
        return _Minutes(
            np.concatenate([self.starts, newer.starts]),
            np.concatenate([self.bad, newer.bad]),
            np.concatenate([self.total, newer.total]),
        )

    def since(self, start_s: int) -> _Minutes:
        """The minutes from ``start_s`` on."""
        first = int(np.searchsorted(self.starts, start_s))
        return _Minutes(self.starts[first:], self.bad[first:], self.total[first:])

    def within(self, start_s: int, end_s: int) -> tuple[int, int]:
        """Bad and total events of the minutes starting in ``[start_s, end_s)``."""
        inside = (self.starts >= start_s) & (self.starts < end_s)
        return int(self.bad[inside].sum()), int(self.total[inside].sum())


_NONE = _Minutes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


class BurnReader:
    """Reads burn rates; keeps settled minutes between calls. Not thread-safe: one periodic pass calls it."""

    def __init__(self, engine: Engine, slos: tuple[SLO, ...], interval_s: int, settled_after_s: int) -> None:
        self._engine = engine
        self._slos = slos
        self._interval_s = interval_s
        self._settled_after_s = settled_after_s
        self._models = {slo.model_name for slo in slos}
        self._settled = dict.fromkeys(slos, _NONE)
        self._settled_until: int | None = None

    def _load(self, start_s: int, end_s: int) -> list[Rollup]:
        return load_rollups(self._engine, start_s, end_s, self._interval_s, model_names=self._models)

    def read(self, now_s: float) -> tuple[SLOSeries, ...]:
        """Burn over each window ending now, the current minute included (a live reading)."""
        if not self._slos:
            return ()
        interval = self._interval_s
        end = int(now_s) + 1
        oldest = end - LONGEST_S
        settle_to = int(now_s - self._settled_after_s) // interval * interval
        start = oldest if self._settled_until is None else max(self._settled_until, oldest)
        if settle_to > start:
            newly = self._load(start, settle_to)
            self._settled = {slo: minutes.then(_Minutes.of(slo, newly)) for slo, minutes in self._settled.items()}
        self._settled = {slo: minutes.since(oldest) for slo, minutes in self._settled.items()}
        self._settled_until = max(settle_to, start)
        live = self._load(self._settled_until, end + interval)
        return tuple(self._series(slo, self._settled[slo].then(_Minutes.of(slo, live)), end) for slo in self._slos)

    @staticmethod
    def _series(slo: SLO, minutes: _Minutes, end: int) -> SLOSeries:
        burns = []
        for window in BURN_WINDOWS:
            long_name, short_name = window.name.split("/")
            for name, seconds in ((long_name, window.long_s), (short_name, window.short_s)):
                rate = burn_rate(*minutes.within(end - seconds, end), slo.target)
                burns.append(BurnRate(window.name, name, window.severity, window.factor, rate))
        threshold = slo.latency_threshold_ms / 1000 if slo.latency_threshold_ms is not None else None
        return SLOSeries(slo.model_name, slo.name, slo.target, threshold, tuple(burns))
