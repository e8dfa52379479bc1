"""The detector scheduler: every interval, roll up new spans, evaluate latency, SLO burn, cost and drift, store
findings, and prune what is past its retention.

Each evaluation is a pure function of what is stored, for the last complete interval, and findings are
upserted on (detector, model, version, subject, window): evaluating the same interval twice (a restart, a
second replica) stores the same finding once. Findings that fire are always stored; a quiet one is stored
only when it ends a firing streak, as the evidence that the condition resolved. Drift findings are one per
window and detector, quiet or not, so a model version's drift history (and "not enough data") can be read.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.errors import InferwatchError
from collector.core.findings import store_findings
from collector.core.periodic import PassObserver, PeriodicPass, RunsPeriodically
from collector.core.pricing import Pricing
from collector.core.storage.tables import FindingRow
from detectors.cost_anomaly import CostAnomalyDetector, CostAnomalyOptions, cost_finding
from detectors.drift.monitor import DriftMonitor, DriftOptions
from detectors.frame import RollupFrame, load_frame
from detectors.hourly_rollups import hour_of, load_history
from detectors.latency import LatencyAnomalyDetector, LatencyOptions
from detectors.latency_pass import LATENCY, latency_findings
from detectors.retention import RetentionOptions, prune
from detectors.rollups import Rollup, RollupJob, RollupOptions, load_rollups
from detectors.slo import BURN_WINDOWS, PERIOD_S, SLO, SLOStatus, evaluate_slo

logger = logging.getLogger(__name__)

__all__ = ["LATENCY", "SLO_BURN", "DetectorScheduler", "SchedulerOptions"]

SLO_BURN = "slo.burn"


@dataclass(frozen=True)
class SchedulerOptions:
    """How often and over what the detectors run."""

    interval_s: float = 60.0
    rollup: RollupOptions = field(default_factory=RollupOptions)
    latency: LatencyOptions = field(default_factory=LatencyOptions)
    # How far back latency baselines look: 7 days allows hour-of-day seasonality (learned after 3 days);
    # 28 days allows hour-of-week (after 3 weeks).
    lookback_s: int = 7 * 86400
    # Intervals walked through persistence and hysteresis before the evaluated one.
    state_intervals: int = 30
    slos: tuple[SLO, ...] = ()
    drift: DriftOptions = field(default_factory=DriftOptions)
    pricing: Pricing = field(default_factory=Pricing)
    cost: CostAnomalyOptions = field(default_factory=CostAnomalyOptions)
    retention: RetentionOptions = field(default_factory=RetentionOptions)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def slo_finding(status: SLOStatus, window_start: int, window_end: int) -> Finding:
    """An SLO evaluation as a finding naming the window pair that fired and the budget left."""
    firing = status.firing
    worst = firing[0] if firing else max(status.verdicts, key=lambda v: v.long_burn / v.window.factor)
    budget = status.budget_summary()
    if firing:
        summary = (
            f"{status.slo.name} burning {worst.long_burn:.1f}x over {worst.window.long_s // 60} min and "
            f"{worst.short_burn:.1f}x over {worst.window.short_s // 60} min (threshold {worst.window.factor:g}x, "
            f"windows {worst.window.name}); {budget}"
        )
    else:
        summary = f"{status.slo.name}: no burn-rate window pair fires; {budget}"
    return Finding(
        detector=SLO_BURN,
        model_name=status.slo.model_name,
        model_version="",
        subject=status.slo.name,
        severity=worst.window.severity if firing else "info",
        firing=bool(firing),
        window_start=_utc(window_start),
        window_end=_utc(window_end),
        summary=summary,
        value=worst.long_burn,
        expected=worst.window.factor,
        details={
            "windows": [
                {
                    "pair": v.window.name,
                    "severity": v.window.severity,
                    "factor": v.window.factor,
                    "long_burn": v.long_burn,
                    "short_burn": v.short_burn,
                    "firing": v.firing,
                }
                for v in status.verdicts
            ],
            "fired_pair": worst.window.name if firing else None,
            "baseline": f"threshold {worst.window.factor:g}x burn over {worst.window.name} (1x spends the 30-day "
            f"budget exactly; target {status.slo.target * 100:g}%)",
            # Only when the data covers the 30 days; the burn over the history there is, always.
            "budget_remaining": status.budget_remaining if status.covers_period else None,
            "budget_history_s": status.history_s,
            "period_burn": status.period_burn,
            "period_bad": status.period_bad,
            "period_total": status.period_total,
        },
    )


class DetectorScheduler(RunsPeriodically):
    """Runs the evaluation on an interval, off the event loop; an async context manager."""

    def __init__(
        self,
        engine: Engine,
        options: SchedulerOptions | None = None,
        *,
        observer: PassObserver | None = None,
        on_late_spans: Callable[[int], object] | None = None,
    ) -> None:
        self._engine = engine
        self.options = options or SchedulerOptions()
        self._rollups = RollupJob(engine, self.options.rollup)
        self._on_late_spans = on_late_spans
        self._latency = LatencyAnomalyDetector(self.options.latency)
        self._drift = DriftMonitor(engine, self.options.drift)
        self._cost = CostAnomalyDetector(self.options.pricing, self.options.cost)
        self._periodic = PeriodicPass("inferwatch-detectors", self.evaluate_once, self.options.interval_s, observer)
        # Set once the first pass has ended, so a caller can tell that no pass is about to start.
        self.first_pass_done = self._periodic.first_pass_done
        self.last_pass_timings: dict[str, float] = {}

    def evaluate_once(self, now_s: float | None = None) -> list[Finding]:
        """Roll up, evaluate the last complete interval, store and return the findings worth keeping."""
        now = time.time() if now_s is None else now_s
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            timings[stage] = time.perf_counter() - clock
            clock = time.perf_counter()

        rolled = self._rollups.run_once()
        if rolled.too_late and self._on_late_spans is not None:
            self._on_late_spans(rolled.too_late)
        lap("rollup")
        interval = self.options.rollup.interval_s
        end = int(now - self.options.rollup.settle_s) // interval * interval
        cost_windows_back, _ = self.options.cost.windows_back()
        lookback = max(
            self.options.lookback_s,
            max(w.long_s for w in BURN_WINDOWS) if self.options.slos else 0,
            (cost_windows_back + 1) * self.options.cost.window_s,
        )
        frame = load_frame(self._engine, end - lookback, end, interval, self.options.latency.quantile)
        lap("load")
        failed: list[str] = []

        def guarded(stage: str, evaluate: Callable[[], list[Finding]]) -> list[Finding]:
            # One detector failing (on one model's data, say) must not cost the other detectors' findings.
            try:
                return evaluate()
            except Exception:
                logger.exception("%s detection failed; the other detectors' findings are stored", stage)
                failed.append(stage)
                return []
            finally:
                lap(stage)

        findings = guarded("latency", lambda: self._latency_findings(frame, end - lookback, end))
        findings += guarded("slo", lambda: self._slo_findings(end - lookback, end, interval))
        findings += guarded(
            "cost", lambda: [cost_finding(v, self.options.cost) for v in self._cost.evaluate_frame(frame, end)]
        )
        kept = self._worth_keeping(findings) + self._drift_findings(now)
        lap("drift")
        store_findings(self._engine, kept)
        lap("store")
        pruned = prune(self._engine, now, self.options.retention, self._rollups.rolled_up_through())
        lap("prune")
        if pruned.total:
            logger.info("retention pruned %s", pruned)
        # Seconds per stage of the last pass, for the logs and the scale benchmark.
        self.last_pass_timings = timings
        if failed:
            # After storing what the other stages found: the pass still counts as failed on /metrics.
            raise InferwatchError(f"detector stage(s) failed: {', '.join(failed)}; see the log lines above")
        return kept

    def _slo_findings(self, start: int, end: int, interval: int) -> list[Finding]:
        """SLO burn per configured SLO; they count requests over a threshold, which needs the latency summaries."""
        if not self.options.slos:
            return []
        own: dict[str, list[Rollup]] = defaultdict(list)
        models = {slo.model_name for slo in self.options.slos}
        # The burn windows (3 days at most) read minutes; the rest of the 30-day budget period, hourly rollups,
        # so the budget left can be stated once the data covers the period.
        minutes_from = hour_of(start)
        older = load_history(self._engine, end - PERIOD_S, minutes_from, interval, model_names=models)
        for rollup in [*older, *load_rollups(self._engine, minutes_from, end, interval, model_names=models)]:
            own[rollup.key.model_name].append(rollup)
        return [
            slo_finding(evaluate_slo(slo, own[slo.model_name], end), end - interval, end) for slo in self.options.slos
        ]

    def _drift_findings(self, now: float) -> list[Finding]:
        """Drift findings; a failure there must not cost the latency, SLO and cost findings of this pass."""
        try:
            return self._drift.evaluate(now)
        except Exception:
            logger.exception("drift evaluation failed; the other detectors' findings are stored")
            return []

    def _latency_findings(self, frame: RollupFrame, start: int, end: int) -> list[Finding]:
        # During warm-up a point over the model's latency SLO threshold is anomalous: the tightest one counts.
        thresholds: dict[str, float] = {}
        for slo in self.options.slos:
            if slo.latency_threshold_ms is not None:
                known = thresholds.get(slo.model_name, slo.latency_threshold_ms)
                thresholds[slo.model_name] = min(known, slo.latency_threshold_ms)
        return latency_findings(
            self._engine,
            self._latency,
            frame,
            start=start,
            end=end,
            evaluated_from=end - self.options.state_intervals * frame.interval_s,
            slo_thresholds_ms=thresholds,
        )

    def _worth_keeping(self, findings: Sequence[Finding]) -> list[Finding]:
        """Firing findings, plus quiet ones whose previous finding fired (the resolution)."""
        quiet = [f for f in findings if not f.firing]
        if not quiet:
            return list(findings)
        latest = (
            select(
                FindingRow.detector,
                FindingRow.model_name,
                FindingRow.model_version,
                FindingRow.subject,
                func.max(FindingRow.window_end).label("last"),
            )
            .group_by(FindingRow.detector, FindingRow.model_name, FindingRow.model_version, FindingRow.subject)
            .subquery()
        )
        query = (
            select(FindingRow.detector, FindingRow.model_name, FindingRow.model_version, FindingRow.subject)
            .join(
                latest,
                (FindingRow.detector == latest.c.detector)
                & (FindingRow.model_name == latest.c.model_name)
                & (FindingRow.model_version == latest.c.model_version)
                & (FindingRow.subject == latest.c.subject)
                & (FindingRow.window_end == latest.c.last),
            )
            .where(FindingRow.firing.is_(True))
        )
        with self._engine.connect() as connection:
            was_firing = {tuple(row) for row in connection.execute(query)}
        return [f for f in findings if f.firing or (f.detector, f.model_name, f.model_version, f.subject) in was_firing]
