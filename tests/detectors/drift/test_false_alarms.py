"""Random splits of bundled data sets alarm at most at alpha: numeric, categorical, high-cardinality, mixed frames."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from detectors.drift import KSDrift
from detectors.drift.stats import MIN_EXPECTED, pool_rare

SPLITS = 100
# Binomial(100, 0.05) exceeds 10 with chance 1.1%: a rate above this is a miscalibrated test, not bad luck.
MOST_ALARMS = 10

Frame = dict[str, np.ndarray]


def numeric_frame() -> Frame:
    """Breast cancer: 30 continuous columns."""
    data = load_breast_cancer().data
    return {f"x{j}": data[:, j] for j in range(data.shape[1])}


def categorical_frame() -> Frame:
    """Wine's 13 columns cut at their deciles into text labels."""
    data = load_wine().data
    frame = {}
    for j in range(data.shape[1]):
        edges = np.quantile(data[:, j], np.linspace(0.1, 0.9, 9))
        frame[f"c{j}"] = np.array([f"d{k}" for k in np.searchsorted(edges, data[:, j])], dtype=object)
    return frame


def high_cardinality_frame() -> Frame:
    """Breast cancer's first 8 columns written as text codes: hundreds of distinct values each."""
    data = load_breast_cancer().data
    return {f"code{j}": np.array([f"c{v:.3g}" for v in data[:, j]], dtype=object) for j in range(8)}


def mixed_frame() -> Frame:
    """Diabetes unscaled: numbers, a two-valued code, amounts as text, high-cardinality codes and row ids."""
    data = load_diabetes(scaled=False).data
    frame = {f"x{j}": data[:, j] for j in range(data.shape[1])}
    frame["bmi_text"] = np.array([f"{v:.1f}" for v in data[:, 2]], dtype=object)
    frame["bp_code"] = np.array([f"bp{v:.0f}" for v in data[:, 3]], dtype=object)
    frame["s5_code"] = np.array([f"s{v:.3f}" for v in data[:, 8]], dtype=object)
    frame["row_id"] = np.array([f"r{i}" for i in range(data.shape[0])], dtype=object)
    return frame


@pytest.mark.parametrize("make", [numeric_frame, categorical_frame, high_cardinality_frame, mixed_frame])
def test_random_splits_alarm_at_most_at_alpha(make: Callable[[], Frame]) -> None:
    """Over 100 random half/half splits, the dataset verdict fires in at most 10 (alpha 0.05)."""
    frame = make()
    rows = len(next(iter(frame.values())))
    alarms = 0
    for seed in range(SPLITS):
        order = np.random.default_rng(seed).permutation(rows)
        ref, cur = order[: rows // 2], order[rows // 2 :]
        detector = KSDrift(workers=1).fit({name: values[ref] for name, values in frame.items()})
        alarms += detector.score({name: values[cur] for name, values in frame.items()}).dataset_drift
    assert alarms <= MOST_ALARMS


def test_uneven_splits_of_high_cardinality_text_alarm_at_most_at_alpha() -> None:
    """A small current sample (60 rows) against the rest keeps the level on high-cardinality codes too."""
    frame = high_cardinality_frame()
    rows = len(frame["code0"])
    alarms = 0
    for seed in range(SPLITS):
        order = np.random.default_rng(seed).permutation(rows)
        ref, cur = order[60:], order[:60]
        detector = KSDrift(workers=1).fit({name: values[ref] for name, values in frame.items()})
        alarms += detector.score({name: values[cur] for name, values in frame.items()}).dataset_drift
    assert alarms <= MOST_ALARMS


counts = st.lists(st.integers(0, 40), min_size=2, max_size=30)


@settings(max_examples=60, deadline=None)
@given(counts, counts)
def test_pooling_keeps_totals_and_leaves_no_rare_cell(a: list[int], b: list[int]) -> None:
    """Pooling moves counts but loses none, and leaves a rare cell only when two cells are all there is."""
    size = min(len(a), len(b))
    reference, current = np.array(a[:size], dtype=np.int64), np.array(b[:size], dtype=np.int64)
    pooled_ref, pooled_cur = pool_rare(reference, current)
    assert pooled_ref.sum() == reference.sum()
    assert pooled_cur.sum() == current.sum()
    if pooled_ref.size > 2 and reference.sum() and current.sum():
        rows = np.array([pooled_ref.sum(), pooled_cur.sum()])
        expected = rows.min() * (pooled_ref + pooled_cur) / rows.sum()
        assert expected.min() >= MIN_EXPECTED - 1e-9


def test_unseen_values_of_a_code_drawn_with_replacement_alarm_at_most_at_alpha() -> None:
    """Wine's malic acid as 133 text codes, 1,000 rows a side drawn from the same rows: each code is seen about
    15 times, so an unseen code is rare but brings many rows at once. Over 300 draws the unseen-value test fires
    in at most 5% (the normal law's tail fired in 20: 6.7%)."""
    codes = np.array([f"c{v:.3g}" for v in load_wine().data[:, 1]], dtype=object)
    fired = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        reference, current = codes[rng.integers(0, codes.size, 1000)], codes[rng.integers(0, codes.size, 1000)]
        unseen = KSDrift(workers=1).fit({"code": reference}).score({"code": current}).feature("code").unseen
        assert unseen is not None
        fired += unseen.p_value is not None and unseen.p_value <= 0.05
    assert fired <= 15


def test_mixed_frames_drawn_with_replacement_alarm_at_most_at_alpha() -> None:
    """Wine drawn 1,000 rows a side with replacement (a stable population of 178 kinds of row, as traffic from
    one source is), with malic acid as a text code, colour intensity as an amount stored as text, and row ids:
    the dataset verdict fires in at most 12 of 200 draws (6%, a Binomial(200, 0.05) exceeds it 1 time in 5;
    the normal law's unseen-value tail made it 14)."""
    data = load_wine().data
    alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        frames = []
        for side in range(2):
            rows = data[rng.integers(0, len(data), 1000)]
            frame: Frame = {f"x{j}": rows[:, j] for j in range(rows.shape[1])}
            frame["code"] = np.array([f"c{v:.3g}" for v in rows[:, 1]], dtype=object)
            frame["amount_text"] = np.array([f"{v:.4g}" for v in rows[:, 9]], dtype=object)
            frame["row_id"] = np.array([f"row-{side}-{i}" for i in range(len(rows))], dtype=object)
            frames.append(frame)
        alarms += KSDrift(workers=1).fit(frames[0]).score(frames[1]).dataset_drift
    assert alarms <= 12
