"""Drift from mergeable summaries: the streaming side, a different interface from the batch detectors.

``SummaryDrift.fit`` takes the reference's summaries, ``score`` the current window's (merged over shards and
replicas as needed); no raw rows are touched, so the cost is per bin, not per row.

Accounting for the summary's own error: numeric features are tested with KS on the *binned* CDFs, with the
p-value of the raw-sample Kolmogorov law. Binning can only lower D (the binned CDFs are the raw CDFs read at
the edges), so under no drift the binned D is stochastically smaller than the raw D and the test is
conservative: identical distributions do not flag, and with 100 reference-quantile bins the power lost is at
most a 1% reference-mass shift per bin. Treating a KLL sketch's D as a raw D instead flags every column
(research/drift-anchors.md). Categorical features use chi-square with rare categories pooled, which is exact
on counts. Unseen categories are only tested when the reference summary kept every category (``other == 0``);
otherwise a "new" name may have been folded into the reference's ``other`` and the test would guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np

from collector.core.errors import NotFittedError
from detectors.drift.base import (
    DEFAULT_MIN_COUNT,
    Partial,
    Sizes,
    build_report,
    validate_probability,
)
from detectors.drift.results import CORRECTIONS, Correction, DriftReport, Statistic
from detectors.drift.stats import (
    binned_ks,
    chi_square_pooled,
    js_distance,
    kolmogorov_p_value,
    unseen_p_value,
    unseen_split_p_value,
)
from detectors.drift.summaries import CategoricalSummary, NumericSummary, Summary


class SummaryDrift:
    """Binned KS (numeric) and pooled chi-square (categorical) from per-window summaries."""

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        correction: Correction = "bh",
        min_count: int = DEFAULT_MIN_COUNT,
        min_effect: float = 0.0,
    ) -> None:
        self.alpha = validate_probability("alpha", alpha)
        if correction not in CORRECTIONS:
            raise ValueError(f"`correction` must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
        self.correction: Correction = correction
        if min_count < 1:
            raise ValueError(f"`min_count` must be >= 1, got {min_count}")
        self.min_count = min_count
        if not min_effect >= 0:
            raise ValueError(f"`min_effect` must be >= 0, got {min_effect}")
        self.min_effect = min_effect
        self._reference: dict[str, Summary] | None = None

    def fit(self, reference: Mapping[str, Summary]) -> Self:
        """Keep the reference summaries (they are already fitted: edges and counts)."""
        if not reference:
            raise ValueError("`reference` must have at least one feature")
        self._reference = dict(reference)
        return self

    def score(self, current: Mapping[str, Summary]) -> DriftReport:
        """Compare the current window's summaries with the reference's."""
        if self._reference is None:
            raise NotFittedError(type(self).__name__)
        partial: list[Partial] = []
        for name, ref in self._reference.items():
            if name not in current:
                raise ValueError(f"`current` lacks a summary for feature `{name}`")
            cur = current[name]
            if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
                partial.append(self._numeric(name, ref, cur))
            elif isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
                partial.append(self._categorical(name, ref, cur))
            else:
                raise ValueError(f"feature `{name}`: reference and current summaries are of different types")
        reference_rows = max(summary.count + summary.missing for summary in self._reference.values())
        current_rows = max(current[name].count + current[name].missing for name in self._reference)
        return build_report(self, partial, reference_rows, current_rows)

    def _enough(self, reference: Summary, current: Summary) -> bool:
        return min(reference.count, current.count) >= self.min_count

    def _numeric(self, name: str, reference: NumericSummary, current: NumericSummary) -> Partial:
        if current.edges != reference.edges:
            raise ValueError(f"feature `{name}`: the current summary was not binned on the reference's edges")
        sizes = Sizes(reference.count, reference.missing, current.count, current.missing)
        enough = self._enough(reference, current)
        statistic = None
        if enough:
            ref = np.asarray(reference.counts, dtype=np.int64)
            cur = np.asarray(current.counts, dtype=np.int64)
            distance = binned_ks(ref, cur)
            p_value = kolmogorov_p_value(distance, reference.count, current.count)
            statistic = Statistic("binned_ks", distance, p_value, _binned_wasserstein(reference, ref, cur))
        return Partial(
            name, "numeric", method="binned_ks", statistic=statistic, sizes=sizes, enough=enough, unseen=None
        )

    def _categorical(self, name: str, reference: CategoricalSummary, current: CategoricalSummary) -> Partial:
        categories = sorted(reference.counts)
        unseen = {key: count for key, count in current.counts.items() if key not in reference.counts}
        # Each unseen value keeps its own cell, so a tail of rare new values pools with the other rare values
        # instead of making one large cell the reference has nothing in.
        ref_cells = [reference.counts[key] for key in categories] + [reference.other] + [0] * len(unseen)
        cur_cells = [current.counts.get(key, 0) for key in categories] + [current.other, *unseen.values()]
        ref, cur = np.array(ref_cells, dtype=np.int64), np.array(cur_cells, dtype=np.int64)
        sizes = Sizes(reference.count, reference.missing, current.count, current.missing)
        enough = self._enough(reference, current)
        statistic, unseen_signal = None, None
        if enough:
            chi2, p_value = chi_square_pooled(ref, cur)
            statistic = Statistic("chi_square", chi2, p_value, js_distance(ref, cur))
            if reference.other == 0:
                total = sum(unseen.values())
                singletons = sum(1 for count in reference.counts.values() if count == 1)
                if current.other == 0:
                    expected, p_unseen = unseen_split_p_value(ref, cur)
                else:  # some current values were folded away: only the reference's missing mass is left
                    expected, p_unseen = unseen_p_value(total, current.count, singletons, reference.count)
                examples = tuple(sorted(unseen, key=lambda key: -unseen[key])[:5])
                unseen_signal = (total, total / current.count, expected, p_unseen if total else None, examples)
        return Partial(
            name,
            "categorical",
            method="chi_square",
            statistic=statistic,
            sizes=sizes,
            enough=enough,
            unseen=unseen_signal,
        )


def _binned_wasserstein(reference: NumericSummary, ref: np.ndarray, cur: np.ndarray) -> float:
    """Wasserstein-1 over the reference's scale, read between the edges (open outer bins contribute nothing)."""
    if len(reference.edges) < 2:
        return 0.0
    gaps = np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())[:-1]
    widths = np.diff(np.asarray(reference.edges, dtype=np.float64))
    scale = reference.std if reference.std > 0 else 1.0
    return float(np.dot(gaps[1:], widths) / scale)
