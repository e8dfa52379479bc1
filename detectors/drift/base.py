"""The drift-detector protocol: ``fit(reference)`` once, then ``score(current) -> DriftReport`` per window.

The base class owns everything but the statistic: choosing features and their kind, counting missing values
and unseen categories, the minimum count, the multiple-testing correction and building results. A subclass
writes ``numeric_statistic`` (and may override ``categorical_statistic``, which defaults to chi-square with
rare categories pooled).

Decisions. Test methods (KS, chi-square) are held against ``alpha`` after correcting across every p-value of
the report: the distribution tests, the missing-rate tests (only where either side has a missing value) and
the unseen-category tests (only where unseen values appeared); Benjamini-Hochberg by default, Bonferroni as an
option. Distance methods (Wasserstein, PSI, Jensen-Shannon) have no p-value and are held against their own
``threshold``; they are not corrected. A feature with fewer than ``min_count`` non-missing values on either side
is reported with ``enough_data=False`` and never drifts: below the minimum a window says "not enough data"
rather than guessing.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol, Self, TypeVar

import numpy as np

from collector.core.errors import NotFittedError
from detectors.drift.columns import (
    MAX_DISCRETE_VALUES,
    CategoricalColumn,
    ColumnLike,
    NumericColumn,
    Table,
    Typing,
    categorical_column,
    distinct_sorted,
    is_numeric,
    looks_like_identifier,
    numeric_column,
    text_as_numbers,
)
from detectors.drift.joint import MAX_ROWS as JOINT_MAX_ROWS
from detectors.drift.joint import METHOD as JOINT_METHOD
from detectors.drift.joint import JointReference, JointScore, fit_joint, score_joint
from detectors.drift.results import (
    CORRECTIONS,
    Correction,
    DriftReport,
    FeatureDrift,
    JointDrift,
    Kind,
    MissingRateChange,
    Statistic,
    UnseenCategories,
)
from detectors.drift.stats import (
    FloatArray,
    IntArray,
    adjust,
    chi_square,
    js_distance,
    pool_rare,
    two_proportion_p_value,
    unseen_split_p_value,
)

DEFAULT_MIN_COUNT: Final = 30
# The method of a feature whose distribution is not tested (an identifier column).
NOT_TESTED: Final = "not_tested"
MAX_UNSEEN_EXAMPLES: Final = 5
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class NumericReference:
    """A fitted numeric feature: sorted reference values and the scale effect sizes are divided by."""

    column: NumericColumn
    scale: float
    typing: Typing = "numeric"


@dataclass(frozen=True)
class CategoricalReference:
    """A fitted categorical feature: reference counts, and how many values it saw exactly once."""

    column: CategoricalColumn
    singletons: int
    typing: Typing = "categorical"


@dataclass(frozen=True)
class AlignedCounts:
    """Current counts laid over the reference's categories, with unseen values in one extra last cell."""

    reference: IntArray
    current: IntArray
    unseen: dict[str, int]

    def by_value(self) -> tuple[IntArray, IntArray]:
        """Both sides with every unseen value in a cell of its own (zero on the reference side).

        What the distribution test compares: a long tail of new values, each rare, pools with the other rare
        values of both sides; only a new value frequent enough for a cell of its own counts against the
        reference. How many values are new is the unseen-value test's question, not this one's.
        """
        unseen = np.fromiter(self.unseen.values(), dtype=np.int64, count=len(self.unseen))
        reference = np.concatenate((self.reference[:-1], np.zeros(unseen.size, dtype=np.int64)))
        return reference, np.concatenate((self.current[:-1], unseen))


def validate_probability(name: str, value: float) -> float:
    """``value`` if it lies in (0, 1); otherwise a ValueError naming the argument."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {value}")
    return value


def validate_positive(name: str, value: float) -> float:
    """``value`` if it is finite and > 0; otherwise a ValueError naming the argument."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be > 0, got {value}")
    return value


def reference_scale(values: FloatArray) -> float:
    """The reference's standard deviation (Evidently's normalisation), or 1.0 when it is 0 or not finite."""
    finite = values[np.isfinite(values)]
    std = float(np.std(finite)) if finite.size else 0.0
    return std if math.isfinite(std) and std > 0 else 1.0


class DriftDetector(ABC):
    """Base of every batch drift detector; subclasses write only their statistic."""

    numeric_method: ClassVar[str]
    categorical_method: ClassVar[str] = "chi_square"
    # Whether the numeric features' joint test (``detectors.drift.joint``) joins the family of tests.
    joint_test: ClassVar[bool] = False

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        correction: Correction = "bh",
        categorical: Collection[str] = (),
        min_count: int = DEFAULT_MIN_COUNT,
        min_effect: float = 0.0,
        workers: int | None = None,
    ) -> None:
        self.alpha = validate_probability("alpha", alpha)
        if correction not in CORRECTIONS:
            raise ValueError(f"`correction` must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
        self.correction: Correction = correction
        if isinstance(categorical, str):
            raise ValueError(f"`categorical` must be a collection of column names, got the string {categorical!r}")
        self.categorical = frozenset(categorical)
        if min_count < 1:
            raise ValueError(f"`min_count` must be >= 1, got {min_count}")
        self.min_count = min_count
        if not (math.isfinite(min_effect) and min_effect >= 0):
            raise ValueError(f"`min_effect` must be >= 0, got {min_effect}")
        self.min_effect = min_effect
        if workers is not None and workers < 1:
            raise ValueError(f"`workers` must be >= 1, got {workers}")
        self.workers = workers or min(os.cpu_count() or 1, 4)
        self._reference: dict[str, NumericReference | CategoricalReference] | None = None
        self._reference_rows = 0
        self._joint: JointReference | None = None

    @abstractmethod
    def numeric_statistic(self, reference: NumericReference, current: NumericColumn) -> Statistic:
        """The test or distance for one numeric feature; both sides have at least ``min_count`` values."""

    def categorical_statistic(self, counts: AlignedCounts) -> Statistic:
        """Chi-square with rare values of both sides pooled; the effect size is the Jensen-Shannon distance.

        The effect size is taken over the same pooled cells, so a column of many rare values does not look
        large merely because most of its current values are new.
        """
        reference, current = pool_rare(*counts.by_value())
        statistic, p_value = chi_square(reference, current)
        return Statistic("chi_square", statistic, p_value, js_distance(reference, current))

    @property
    def features(self) -> tuple[str, ...]:
        """The fitted features, in reference order."""
        return tuple(self._fitted())

    def kind(self, feature: str) -> Kind:
        """How a fitted feature is tested."""
        return "numeric" if isinstance(self._fitted()[feature], NumericReference) else "categorical"

    def fit(self, reference: Table) -> Self:
        """Fit every column of ``reference`` (a mapping of column name to values); raw rows are not kept."""
        if not reference:
            raise ValueError("`reference` must have at least one column")
        lengths = {len(values) for values in reference.values()}
        if len(lengths) != 1:
            raise ValueError(f"`reference` columns must have one length, got lengths {sorted(lengths)}")
        unknown = self.categorical - set(reference)
        if unknown:
            raise ValueError(f"`categorical` names columns the reference lacks: {', '.join(sorted(unknown))}")
        names = list(reference)
        fitted = self._map(lambda name: self._fit_column(name, reference[name]), names)
        self._reference = dict(zip(names, fitted, strict=True))
        self._reference_rows = lengths.pop()
        self._joint = None
        if self.joint_test and self._reference_rows <= JOINT_MAX_ROWS:
            numeric = [name for name, item in self._reference.items() if isinstance(item, NumericReference)]
            as_numbers = {name: _numbers_like_reference(reference[name]) for name in numeric}
            self._joint = fit_joint(as_numbers, self._reference_rows, self.min_count)
        return self

    def score(self, current: Table) -> DriftReport:
        """Compare ``current`` with the fitted reference, feature by feature, and decide after correction."""
        fitted = self._fitted()
        missing = [name for name in fitted if name not in current]
        if missing:
            raise ValueError(f"`current` lacks column(s) the reference has: {', '.join(missing)}")
        lengths = {len(current[name]) for name in fitted}
        if len(lengths) != 1:
            raise ValueError(f"`current` columns must have one length, got lengths {sorted(lengths)}")
        partial = self._map(lambda name: self._score_column(name, fitted[name], current[name]), list(fitted))
        joint = None
        if self._joint is not None:
            as_numbers = {name: _numbers_like_reference(current[name]) for name in self._joint.model.features}
            joint = score_joint(self._joint, as_numbers, self.min_count)
        return build_report(self, partial, self._reference_rows, lengths.pop(), joint=joint)

    def reference_column(self, feature: str) -> NumericColumn | CategoricalColumn:
        """A fitted feature's reference: sorted numbers, or category counts (for charts; never re-tested)."""
        return self._fitted()[feature].column

    def current_column(self, feature: str, values: ColumnLike) -> NumericColumn | CategoricalColumn:
        """A current column read the way ``score`` reads it for this feature."""
        reference = self._fitted()[feature]
        if isinstance(reference, NumericReference):
            return numeric_column(_numbers_like_reference(values), feature)
        if reference.typing == "discrete":
            numbers = _as_numbers(values)
            values = values if numbers is None else numbers
        return categorical_column(values, feature)

    def _fitted(self) -> dict[str, NumericReference | CategoricalReference]:
        if self._reference is None:
            raise NotFittedError(type(self).__name__)
        return self._reference

    def _map(self, function: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """Apply per feature, on threads: sorting and searching release the GIL."""
        if self.workers == 1 or len(items) < 2:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(function, items))

    def _fit_column(self, name: str, values: ColumnLike) -> NumericReference | CategoricalReference:
        configured = name in self.categorical
        floats = None if configured else _as_numbers(values)
        if floats is not None:
            typing: Typing = "numeric" if is_numeric(values) else "numeric_text"
            numeric = numeric_column(floats, name)
            distinct = distinct_sorted(numeric.values)
            whole = bool(np.all(numeric.values == np.round(numeric.values)))
            id_like = looks_like_identifier(distinct, numeric.values.size, self.min_count)
            if typing == "numeric_text" and whole and id_like:
                # Distinct whole numbers stored as text are ids, whose order means nothing to a KS test.
                return self._categorical_reference(categorical_column(values, name), "identifier")
            if distinct > MAX_DISCRETE_VALUES:
                return NumericReference(numeric, reference_scale(numeric.values), typing)
            # A 0/1 flag or a small code: its few values are categories, whose shares chi-square compares.
            return self._categorical_reference(categorical_column(floats, name), "discrete")
        categorical = categorical_column(values, name)
        present = int(categorical.counts.sum())
        identifier = not configured and looks_like_identifier(len(categorical.categories), present, self.min_count)
        return self._categorical_reference(categorical, "identifier" if identifier else "categorical")

    @staticmethod
    def _categorical_reference(column: CategoricalColumn, typing: Typing) -> CategoricalReference:
        return CategoricalReference(column, int(np.count_nonzero(column.counts == 1)), typing)

    def _score_column(
        self, name: str, reference: NumericReference | CategoricalReference, values: ColumnLike
    ) -> Partial:
        if isinstance(reference, NumericReference):
            column = self.current_column(name, values)
            assert isinstance(column, NumericColumn)
            ref_n, cur_n = reference.column.values.size, column.values.size
            enough = min(ref_n, cur_n) >= self.min_count
            statistic = self.numeric_statistic(reference, column) if enough else None
            sizes = _sizes(reference.column, column)
            return Partial(
                name,
                "numeric",
                method=self.numeric_method,
                statistic=statistic,
                sizes=sizes,
                enough=enough,
                unseen=None,
                typing=reference.typing,
            )
        # A discrete feature's current side is labelled as the reference was, so "1" in text and 1.0 are one.
        current = self.current_column(name, values)
        assert isinstance(current, CategoricalColumn)
        aligned = align(reference.column, current)
        ref_n, cur_n = int(reference.column.counts.sum()), int(current.counts.sum())
        enough = min(ref_n, cur_n) >= self.min_count
        tested = reference.typing != "identifier"
        statistic = self.categorical_statistic(aligned) if enough and tested else None
        unseen = None
        if enough:
            unseen_total = sum(aligned.unseen.values())
            expected, p_value = unseen_split_p_value(*aligned.by_value())
            examples = tuple(sorted(aligned.unseen, key=lambda key: -aligned.unseen[key])[:MAX_UNSEEN_EXAMPLES])
            unseen = (unseen_total, unseen_total / cur_n, expected, p_value if unseen_total else None, examples)
        method = self.categorical_method if tested else NOT_TESTED
        return Partial(
            name,
            "categorical",
            method=method,
            statistic=statistic,
            sizes=_sizes(reference.column, current),
            enough=enough,
            unseen=unseen,
            typing=reference.typing,
        )


def _as_numbers(values: ColumnLike) -> ColumnLike | None:
    """The column itself when it holds numbers, its numbers when it holds numbers as text, else None."""
    return values if is_numeric(values) else text_as_numbers(values)


def _numbers_like_reference(values: ColumnLike) -> ColumnLike:
    """A current column for a numeric reference feature; text that is not a number is an error naming it."""
    if is_numeric(values):
        return values
    floats = text_as_numbers(values)
    # Not numbers as text: ``numeric_column`` reads what it can (all missing) and names the column otherwise.
    return values if floats is None else floats


def build_report(
    detector: Settings,
    partial: list[Partial],
    reference_rows: int,
    current_rows: int,
    *,
    joint: JointScore | None = None,
) -> DriftReport:
    """Correct the whole family of p-values at once (the joint test's too), then build every result."""
    tests: list[float] = []
    for item in partial:
        item.register(tests)
    if joint is not None:
        tests.append(joint.p_value)
    adjusted = adjust(np.asarray(tests, dtype=np.float64), detector.correction).tolist()
    results = tuple(item.build(adjusted, detector.alpha, detector.min_effect) for item in partial)
    joint_result = None
    if joint is not None:
        joint_result = JointDrift(
            JOINT_METHOD,
            joint.features,
            joint.components,
            joint.reference_median_error,
            joint.current_median_error,
            joint.p_value,
            adjusted[-1],
            adjusted[-1] <= detector.alpha,
        )
    name = type(detector).__name__
    return DriftReport(results, detector.correction, detector.alpha, reference_rows, current_rows, name, joint_result)


class Settings(Protocol):
    """What building a report needs from a detector."""

    alpha: float
    correction: Correction
    min_effect: float


@dataclass(frozen=True)
class Sizes:
    """Present and missing counts on both sides of one feature."""

    reference_present: int
    reference_missing: int
    current_present: int
    current_missing: int


def _sizes(reference: NumericColumn | CategoricalColumn, current: NumericColumn | CategoricalColumn) -> Sizes:
    return Sizes(
        reference.total - reference.missing, reference.missing, current.total - current.missing, current.missing
    )


def align(reference: CategoricalColumn, current: CategoricalColumn) -> AlignedCounts:
    """Lay current counts over the reference's categories; values the reference lacks go to one last cell."""
    positions = {category: index for index, category in enumerate(reference.categories)}
    cur = np.zeros(len(reference.categories) + 1, dtype=np.int64)
    unseen: dict[str, int] = {}
    for category, count in zip(current.categories, current.counts.tolist(), strict=True):
        index = positions.get(category)
        if index is None:
            unseen[category] = count
            cur[-1] += count
        else:
            cur[index] += count
    ref = np.append(reference.counts, 0).astype(np.int64)
    return AlignedCounts(ref, cur, unseen)


class Partial:
    """One feature's numbers before the correction; registers its p-values, then builds its result."""

    def __init__(
        self,
        name: str,
        kind: Kind,
        *,
        method: str,
        statistic: Statistic | None,
        sizes: Sizes,
        enough: bool,
        unseen: tuple[int, float, float, float | None, tuple[str, ...]] | None,
        typing: Typing | None = None,
    ) -> None:
        self.name, self.kind, self.method, self.statistic = name, kind, method, statistic
        self.typing: Typing = typing or kind
        self.enough, self.unseen = enough, unseen
        self.reference_count, self.current_count = sizes.reference_present, sizes.current_present
        ref_total = sizes.reference_present + sizes.reference_missing
        cur_total = sizes.current_present + sizes.current_missing
        self.ref_rate = sizes.reference_missing / ref_total if ref_total else 0.0
        self.cur_rate = sizes.current_missing / cur_total if cur_total else 0.0
        self.missing_p = two_proportion_p_value(sizes.reference_missing, ref_total, sizes.current_missing, cur_total)
        self.slots: dict[str, int] = {}

    def register(self, tests: list[float]) -> None:
        """Append this feature's p-values to the family and remember where they went."""
        candidates = {
            "distribution": self.statistic.p_value if self.statistic else None,
            "missing": self.missing_p,
            "unseen": self.unseen[3] if self.unseen else None,
        }
        for slot, p_value in candidates.items():
            if p_value is not None:
                self.slots[slot] = len(tests)
                tests.append(p_value)

    def build(self, adjusted: list[float], alpha: float, min_effect: float) -> FeatureDrift:
        """The result, given the corrected p-values of the whole family."""

        def corrected(slot: str) -> float | None:
            return adjusted[self.slots[slot]] if slot in self.slots else None

        stat = self.statistic
        distribution_drifted = False
        if stat is not None:
            p_adj = corrected("distribution")
            if stat.p_value is None:
                distribution_drifted = stat.threshold is not None and stat.statistic >= stat.threshold
            else:
                distribution_drifted = p_adj is not None and p_adj <= alpha and stat.effect_size >= min_effect
        missing_adj = corrected("missing")
        missing = MissingRateChange(
            self.ref_rate, self.cur_rate, self.missing_p, missing_adj, missing_adj is not None and missing_adj <= alpha
        )
        unseen = None
        if self.unseen is not None:
            unseen_adj = corrected("unseen")
            count, share, expected, p_value, examples = self.unseen
            drifted = unseen_adj is not None and unseen_adj <= alpha
            unseen = UnseenCategories(count, share, expected, p_value, unseen_adj, drifted, examples)
        threshold = alpha if stat is None or stat.p_value is not None else float(stat.threshold or 0.0)
        return FeatureDrift(
            feature=self.name,
            kind=self.kind,
            method=stat.method if stat else self.method,
            statistic=stat.statistic if stat else math.nan,
            p_value=stat.p_value if stat else None,
            p_value_adjusted=corrected("distribution"),
            effect_size=stat.effect_size if stat else math.nan,
            effect_size_name="wasserstein_std" if self.kind == "numeric" else "jensen_shannon",
            threshold=threshold,
            distribution_drifted=distribution_drifted,
            drifted=distribution_drifted or missing.drifted or bool(unseen and unseen.drifted),
            reference_count=self.reference_count,
            current_count=self.current_count,
            enough_data=self.enough,
            missing=missing,
            unseen=unseen,
            typing=self.typing,
            spread=stat.spread if stat else None,
        )
