"""Streaming drift: per model version with a reference, evaluate the latest window and make findings.

Time is cut into intervals of ``step_s``. Each interval's predictions are summarised once on the reference's
bins and stored (``drift_summaries``); a window merges its intervals, so each prediction is read once
whatever the window size, and replicas that summarise the same interval store it once. A *tumbling* window
is the last whole ``window_s`` aligned to the epoch; a *rolling* one is the last ``window_s`` ending at the
latest interval boundary. An interval is summarised only ``settle_s`` after it ends, so late predictions
(clock skew, the ingest buffer) are in it.

Per window, up to five findings, each upserted on its window so a re-evaluation stores it once:
``drift.data`` (the input features), ``drift.prediction`` (the flattened outputs), ``drift.multivariate``
(PCA reconstruction error), ``drift.estimated_accuracy`` (from the model's confidence, when the reference
had scores and outcomes) and ``drift.performance`` (against outcomes, once enough have arrived; the last
``performance_windows`` windows are re-checked as outcomes arrive, at most every ``performance_every_s``).
Below ``min_count`` predictions a window is reported as not having enough data instead of being judged; an
idle version reports it once per change of state (the first window without enough data after a judged one),
not every step, so an idle fleet does not fill the findings table with the same sentence.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.errors import ConfigError
from detectors.drift.late import forget_stale_summaries
from detectors.drift.performance import MIN_OUTCOMES, compare_performance
from detectors.drift.records import CONFIDENCE, load_predictions
from detectors.drift.reference import FittedReference, WindowSummary
from detectors.drift.results import CORRECTIONS, Correction, DriftReport
from detectors.drift.store import ReferenceInfo, load_active_references, load_summaries, performance_of, save_summary
from detectors.drift.streaming import SummaryDrift
from detectors.drift.summaries import NumericSummary, Summary

logger = logging.getLogger(__name__)

DATA: Final = "drift.data"
PREDICTION: Final = "drift.prediction"
MULTIVARIATE: Final = "drift.multivariate"
PERFORMANCE: Final = "drift.performance"
ESTIMATED: Final = "drift.estimated_accuracy"
WindowKind = Literal["tumbling", "rolling"]
# Per interval, at most this many predictions are summarised (an even sample above it), bounding memory.
MAX_INTERVAL_ROWS: Final = 50_000
# Per performance window, at most this many predictions (an even sample) are joined with their outcomes.
MAX_PERFORMANCE_ROWS: Final = 200_000
NANOS: Final = 1_000_000_000


@dataclass(frozen=True)
class DriftOptions:
    """The ``[drift]`` section: windows, the minimum count, and the decision's significance."""

    window: WindowKind = "tumbling"
    window_s: int = 3600
    step_s: int = 300
    settle_s: int = 120
    min_count: int = 100
    alpha: float = 0.05
    correction: Correction = "bh"
    performance_min_loss: float = 0.01
    performance_windows: int = 24
    performance_every_s: int = 600

    def __post_init__(self) -> None:
        if self.window not in get_args(WindowKind):
            raise ValueError(f"`window` must be 'tumbling' or 'rolling', got {self.window!r}")
        for name in ("window_s", "step_s", "min_count", "performance_windows", "performance_every_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.settle_s < 0:
            raise ValueError(f"`settle_s` must be >= 0, got {self.settle_s}")
        if self.window_s % self.step_s:
            raise ValueError(f"`window_s` ({self.window_s}) must be a multiple of `step_s` ({self.step_s})")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"`alpha` must be in (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"`correction` must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}")
        if not (math.isfinite(self.performance_min_loss) and self.performance_min_loss >= 0):
            raise ValueError(f"`performance_min_loss` must be >= 0, got {self.performance_min_loss}")


def parse_drift_section(section: Mapping[str, Any]) -> DriftOptions:
    """The ``[drift]`` table of the config file; a bad key or value raises ConfigError naming it."""
    known = {f.name: f.type for f in fields(DriftOptions)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(f"[drift] has unknown key(s): {', '.join(unknown)} (known: {', '.join(known)})")
    values: dict[str, Any] = {}
    for key, value in section.items():
        default = getattr(DriftOptions, key)
        expected: type = type(default)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if expected is float and number:
            values[key] = float(value)
        elif isinstance(value, expected) and not isinstance(value, bool):
            values[key] = value
        else:
            raise ConfigError(f"[drift] {key} must be a {expected.__name__}, got {value!r}")
    try:
        return DriftOptions(**values)
    except ValueError as error:
        raise ConfigError(f"[drift]: {error}") from None


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True)
class Window:
    """A half-open range of seconds since the epoch."""

    start_s: int
    end_s: int


class DriftMonitor:
    """Evaluates every model version that has a default reference; call ``evaluate`` from the scheduler."""

    def __init__(self, engine: Engine, options: DriftOptions | None = None) -> None:
        self._engine = engine
        self.options = options or DriftOptions()
        self._performance_checked_at: float | None = None
        # (model, version, detector) whose last finding said "not enough data": the next such one is not news.
        # Per process: a restarted or second replica says it once more, which is harmless.
        self._not_enough: set[tuple[str, str, str]] = set()
        # A window verdict stands until the next window's is due; alerts read it as evidence that long.
        cadence = self.options.window_s if self.options.window == "tumbling" else self.options.step_s
        self.holds_for_s = cadence + self.options.settle_s

    def latest_window(self, now_s: float) -> Window:
        """The newest complete window at ``now_s``."""
        options = self.options
        settled = int(now_s) - options.settle_s
        size = options.window_s if options.window == "tumbling" else options.step_s
        end = settled // size * size
        return Window(end - options.window_s, end)

    def evaluate(self, now_s: float | None = None) -> list[Finding]:
        """Findings for the latest window of every referenced model version."""
        now = time.time() if now_s is None else now_s
        window = self.latest_window(now)
        last_check = self._performance_checked_at
        # A clock that went back (a replayed pass) counts as due, not as checked in the future.
        check_performance = last_check is None or not 0 <= now - last_check < self.options.performance_every_s
        findings: list[Finding] = []
        try:
            forget_stale_summaries(self._engine, self.options.step_s)
        except Exception:  # stale summaries only miss late predictions; the evaluation itself must go on
            logger.exception("could not check for predictions that arrived late")
        for info, fitted in load_active_references(self._engine):
            try:
                current = self.window_summary(info, fitted, window)
                findings.extend(self.distribution_findings(info, fitted, current, window))
                if check_performance and fitted.performance is not None:
                    findings.extend(self.performance_findings(info, fitted, window))
            except Exception:  # one model's bad data must not stop drift detection for the others
                logger.exception("drift evaluation of %s version %s failed", info.model_name, info.model_version)
        if check_performance:
            self._performance_checked_at = now
        return findings

    def window_summary(self, info: ReferenceInfo, fitted: FittedReference, window: Window) -> WindowSummary:
        """The window's predictions summarised, from stored intervals, summarising and storing missing ones."""
        step = self.options.step_s
        stored = load_summaries(
            self._engine, fitted, info.id, bucket_s=step, start_s=window.start_s, end_s=window.end_s
        )
        merged = fitted.summarise({}, {}, 0)
        for start in range(window.start_s, window.end_s, step):
            interval = stored.get(start)
            if interval is None:
                columns = load_predictions(
                    self._engine,
                    info.model_name,
                    info.model_version,
                    start * NANOS,
                    (start + step) * NANOS,
                    max_rows=MAX_INTERVAL_ROWS,
                )
                interval = fitted.summarise(columns.features, columns.outputs, columns.rows)
                save_summary(self._engine, info.id, step, start, interval, source_rows=columns.in_range)
            merged = merged.merge(interval)
        return merged

    def distribution_findings(
        self, info: ReferenceInfo, fitted: FittedReference, current: WindowSummary, window: Window
    ) -> list[Finding]:
        """``drift.data``, ``drift.prediction`` and ``drift.multivariate`` for one window."""
        tests: list[tuple[str, Mapping[str, Summary], Mapping[str, Summary]]] = [
            (DATA, fitted.features, current.features)
        ]
        if fitted.outputs:
            tests.append((PREDICTION, fitted.outputs, current.outputs))
        if fitted.reconstruction is not None and current.reconstruction is not None:
            tests.append(
                (
                    MULTIVARIATE,
                    {"reconstruction_error": fitted.reconstruction},
                    {"reconstruction_error": current.reconstruction},
                )
            )
        findings = []
        for detector, reference, summaries in tests:
            key = (info.model_name, info.model_version, detector)
            if current.rows < self.options.min_count:
                if key not in self._not_enough:
                    self._not_enough.add(key)
                    findings.append(self._not_enough_finding(detector, info, window, current.rows))
                continue
            self._not_enough.discard(key)
            scorer = SummaryDrift(
                alpha=self.options.alpha, correction=self.options.correction, min_count=self.options.min_count
            )
            report = scorer.fit(reference).score(summaries)
            findings.append(self._drift_finding(detector, info, window, report, current.rows))
        estimate = self.estimated_accuracy(info, fitted, current, window)
        return findings if estimate is None else [*findings, estimate]

    def estimated_accuracy(
        self, info: ReferenceInfo, fitted: FittedReference, current: WindowSummary, window: Window
    ) -> Finding | None:
        """``drift.estimated_accuracy``: accuracy expected from the window's confidence, before outcomes arrive."""
        confidence = current.outputs.get(CONFIDENCE)
        calibration = fitted.calibration
        if (
            calibration is None
            or not isinstance(confidence, NumericSummary)
            or confidence.count < self.options.min_count
        ):
            return None
        estimate = calibration.estimate(confidence)
        if estimate is None:
            return None
        firing = calibration.significant_drop(estimate, confidence.count, self.options.performance_min_loss)
        return Finding(
            detector=ESTIMATED,
            model_name=info.model_name,
            model_version=info.model_version,
            subject="accuracy",
            severity="warning" if firing else "info",
            firing=firing,
            window_start=_utc(window.start_s),
            window_end=_utc(window.end_s),
            summary=(
                f"estimated accuracy {estimate:.4g} from confidence, {calibration.reference_accuracy:.4g} on the "
                f"reference; {confidence.count} predictions, no outcomes needed"
            ),
            value=estimate,
            expected=calibration.reference_accuracy,
            details={
                "rows": confidence.count,
                "calibration_outcomes": calibration.outcomes,
                "holds_for_s": self.holds_for_s,
            },
        )

    def _not_enough_finding(self, detector: str, info: ReferenceInfo, window: Window, rows: int) -> Finding:
        return Finding(
            detector=detector,
            model_name=info.model_name,
            model_version=info.model_version,
            subject="",
            severity="info",
            firing=False,
            window_start=_utc(window.start_s),
            window_end=_utc(window.end_s),
            summary=f"not enough data: {rows} predictions in the window, {self.options.min_count} needed",
            value=None,
            details={"enough_data": False, "rows": rows, "min_count": self.options.min_count},
        )

    def _drift_finding(
        self, detector: str, info: ReferenceInfo, window: Window, report: DriftReport, rows: int
    ) -> Finding:
        what = {DATA: "input features", PREDICTION: "outputs", MULTIVARIATE: "joint distribution (PCA)"}[detector]
        drifted = report.drifted  # largest effect first: the dominant feature is named, not "... and 8 more"
        if drifted:
            named = ", ".join(
                f"{item.feature} ({item.method}, p_adj={_p(item.p_value_adjusted)}, effect={_number(item.effect_size)})"
                for item in drifted[:5]
            )
            more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
            summary = f"{what}: {len(drifted)} of {len(report.features)} drifted: {named}{more}; {rows} predictions"
        else:
            summary = f"{what}: no drift in {len(report.features)} tested; {rows} predictions"
        return Finding(
            detector=detector,
            model_name=info.model_name,
            model_version=info.model_version,
            subject="",
            severity="warning" if report.dataset_drift else "info",
            firing=report.dataset_drift,
            window_start=_utc(window.start_s),
            window_end=_utc(window.end_s),
            summary=summary,
            value=report.share_drifted,
            details={
                "enough_data": report.enough_data,
                "rows": rows,
                "holds_for_s": self.holds_for_s,
                # What the window is compared with, for the alert's baseline.
                "baseline": f"reference {info.name!r} ({info.row_count:,} rows)",
                "report": report.to_dict(),
            },
        )

    def performance_findings(self, info: ReferenceInfo, fitted: FittedReference, latest: Window) -> list[Finding]:
        """``drift.performance`` for the last ``performance_windows`` windows with enough outcomes."""
        reference = fitted.performance
        if reference is None:
            return []
        findings = []
        # Aligned to whole windows even when drift windows roll, so a re-check revisits the same windows.
        newest_end = latest.end_s // self.options.window_s * self.options.window_s
        for back in range(self.options.performance_windows):
            end = newest_end - back * self.options.window_s
            window = Window(end - self.options.window_s, end)
            columns = load_predictions(
                self._engine,
                info.model_name,
                info.model_version,
                window.start_s * NANOS,
                window.end_s * NANOS,
                max_rows=MAX_PERFORMANCE_ROWS,
            )
            current = performance_of(self._engine, columns) if columns.rows else None
            if current is None or current.task != reference.task:
                continue
            verdict = compare_performance(reference, current, self.options.alpha, self.options.performance_min_loss)
            direction = "down" if verdict.metric == "accuracy" else "up"
            summary = (
                f"{verdict.metric} {verdict.current:.4g} vs {verdict.reference:.4g} on the reference "
                f"({direction} {abs(verdict.loss):.3g}{' relative' if verdict.metric == 'mae' else ''}, "
                f"one-sided p={_p(verdict.p_value)}); {current.count} outcomes of {columns.rows} predictions"
            )
            findings.append(
                Finding(
                    detector=PERFORMANCE,
                    model_name=info.model_name,
                    model_version=info.model_version,
                    subject=verdict.metric,
                    severity="critical" if verdict.drifted else "info",
                    firing=verdict.drifted,
                    window_start=_utc(window.start_s),
                    window_end=_utc(window.end_s),
                    summary=summary,
                    value=verdict.current,
                    expected=verdict.reference,
                    details={
                        "p_value": verdict.p_value,
                        "loss": verdict.loss,
                        "outcomes": current.count,
                        "holds_for_s": self.holds_for_s,
                        "min_outcomes": MIN_OUTCOMES,
                        "current": current.to_dict(),
                        "reference": reference.to_dict(),
                    },
                )
            )
        return findings


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"
