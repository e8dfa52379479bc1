"""Power at about a hundred rows a side on bundled data: changes of spread on a few columns, and no alarm on nulls."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.utils import Bunch

from detectors.drift import KSDrift

ROWS = 100
CHANGED = (0, 1, 2)
Change = Callable[[np.ndarray, np.ndarray, np.random.Generator], None]


def noise_of_one_sd(reference: np.ndarray, current: np.ndarray, rng: np.random.Generator) -> None:
    """Gaussian noise of one reference standard deviation on the changed columns (the issue's example)."""
    for j in CHANGED:
        current[:, j] += rng.normal(0, reference[:, j].std(), len(current))


def spread_by_half(reference: np.ndarray, current: np.ndarray, rng: np.random.Generator) -> None:
    """The changed columns' spread x1.5 around the reference median: the median is kept, so KS barely sees it."""
    for j in CHANGED:
        median = np.median(reference[:, j])
        current[:, j] = median + (current[:, j] - median) * 1.5


def no_change(reference: np.ndarray, current: np.ndarray, rng: np.random.Generator) -> None:
    """A random split as it is."""


Frame = dict[str, np.ndarray]


def numeric_frame(values: np.ndarray, first_row: int) -> Frame:
    """Every column as numbers."""
    return {f"x{j}": values[:, j] for j in range(values.shape[1])}


def mixed_frame(values: np.ndarray, first_row: int) -> Frame:
    """Column 2 only as an amount stored as text, beside a high-cardinality text code and a row id."""
    frame = {f"x{j}": values[:, j] for j in range(values.shape[1]) if j != 2}
    frame["amount_text"] = np.array([f"{v:.4g}" for v in values[:, 2]], dtype=object)
    frame["code"] = np.array([f"c{v:.3g}" for v in values[:, 1]], dtype=object)
    frame["row_id"] = np.array([f"row-{first_row + i}" for i in range(len(values))], dtype=object)
    return frame


def alarms(
    loader: Callable[[], Bunch],
    change: Change,
    seeds: range,
    rows: int = ROWS,
    frame: Callable[[np.ndarray, int], Frame] = numeric_frame,
) -> int:
    """How many of the seeded splits (rows a side) the dataset-level verdict calls drift."""
    data = loader().data
    caught = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(data))
        size = min(rows, len(data) // 2)
        reference, current = data[order[:size]].copy(), data[order[size : 2 * size]].copy()
        change(reference, current, rng)
        report = KSDrift(workers=1).fit(frame(reference, 0)).score(frame(current, size))
        caught += report.dataset_drift
    return caught


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer, load_diabetes])
def test_noise_of_one_sd_on_three_columns_is_caught_in_nine_of_ten(loader: Callable[[], Bunch]) -> None:
    """1-sd noise on 3 columns at 100 rows a side: at least 38 of 40 seeded splits (37 on wine without the joint
    test, 33-34 with KS + Brown-Forsythe alone)."""
    assert alarms(loader, noise_of_one_sd, range(40)) >= 38


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer, load_diabetes])
def test_noise_on_a_mixed_frame_is_caught_in_nine_of_ten(loader: Callable[[], Bunch]) -> None:
    """1-sd noise on 3 columns, one of them an amount stored as text, beside a text code and ids: >= 38 of 40
    (35 on wine without the joint test, which reads the amount stored as text as the number it is)."""
    assert alarms(loader, noise_of_one_sd, range(40), frame=mixed_frame) >= 38


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer, load_diabetes])
def test_spread_of_three_columns_is_caught_in_four_of_five(loader: Callable[[], Bunch]) -> None:
    """Spread x1.5 on 3 columns at 100 rows a side: at least 32 of 40 (KS + Brown-Forsythe: 27 on breast cancer)."""
    assert alarms(loader, spread_by_half, range(40)) >= 32


@pytest.mark.parametrize("frame", [numeric_frame, mixed_frame])
@pytest.mark.parametrize("rows", [50, ROWS])
@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer, load_diabetes])
def test_random_splits_of_a_hundred_rows_alarm_at_most_at_alpha(
    loader: Callable[[], Bunch], rows: int, frame: Callable[[np.ndarray, int], Frame]
) -> None:
    """Over 100 null splits of 50 or 100 rows a side, the combined tests fire in at most 10 (alpha 0.05)."""
    assert alarms(loader, no_change, range(100), rows, frame) <= 10
