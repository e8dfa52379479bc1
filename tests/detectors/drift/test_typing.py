"""How columns are typed and tested, on scikit-learn's bundled data: high-cardinality text, ids, numbers as text."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from detectors.drift import KSDrift
from detectors.drift.base import NOT_TESTED

SEED = 20261202


def halves(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a random half/half split."""
    order = np.random.default_rng(seed).permutation(rows)
    return order[: rows // 2], order[rows // 2 :]


def as_codes(values: np.ndarray) -> np.ndarray:
    """Numbers written as non-numeric text codes: hundreds of distinct, mostly rare, categories."""
    return np.array([f"c{v:.2f}" for v in values], dtype=object)


def test_high_cardinality_text_does_not_alarm_on_a_random_split() -> None:
    """Breast-cancer radii as text codes (456 values): no split of 20 alarms, and the unseen share is as expected."""
    codes = as_codes(load_breast_cancer().data[:, 0])
    alarms = 0
    for seed in range(20):
        ref, cur = halves(codes.size, seed)
        report = KSDrift(workers=1).fit({"code": codes[ref]}).score({"code": codes[cur]})
        alarms += report.dataset_drift
        feature = report.feature("code")
        assert feature.typing == "categorical"
        assert feature.unseen is not None
        assert feature.unseen.share == pytest.approx(feature.unseen.expected_share, abs=0.08)
    assert alarms == 0


def test_a_frequent_new_value_in_a_high_cardinality_column_still_drifts() -> None:
    """The same codes with a quarter of current rows turned into one new code: distribution and unseen both fire."""
    codes = as_codes(load_breast_cancer().data[:, 0])
    ref, cur = halves(codes.size, SEED)
    current = codes[cur].copy()
    current[: current.size // 4] = "NEW"
    feature = KSDrift(workers=1).fit({"code": codes[ref]}).score({"code": current}).feature("code")
    assert feature.distribution_drifted
    assert feature.unseen is not None
    assert feature.unseen.drifted
    assert feature.unseen.examples[0] == "NEW"


def test_an_identifier_column_is_reported_and_not_tested() -> None:
    """Row ids (all distinct) are typed identifier, their distribution untested, unless named categorical."""
    ids = np.array([f"patient-{i:04d}" for i in range(569)], dtype=object)
    ref, cur = halves(ids.size, SEED)
    feature = KSDrift(workers=1).fit({"id": ids[ref]}).score({"id": ids[cur]}).feature("id")
    assert (feature.typing, feature.method, feature.p_value) == ("identifier", NOT_TESTED, None)
    assert not feature.drifted
    assert feature.to_dict()["typing"] == "identifier"
    configured = KSDrift(workers=1, categorical=["id"]).fit({"id": ids[ref]}).score({"id": ids[cur]})
    assert (configured.feature("id").typing, configured.feature("id").method) == ("categorical", "chi_square")


def test_whole_numbers_as_text_that_are_all_distinct_are_identifiers() -> None:
    """Numeric ids stored as text are ids, not a quantity for KS to compare."""
    ids = np.array([str(100_000 + i) for i in range(442)], dtype=object)
    ref, cur = halves(ids.size, SEED)
    feature = KSDrift(workers=1).fit({"id": ids[ref]}).score({"id": ids[cur]}).feature("id")
    assert feature.typing == "identifier"
    assert not feature.drifted


def test_amounts_stored_as_text_are_tested_as_numbers() -> None:
    """Diabetes BMI as text: typed numeric_text, tested with KS, quiet on a split and firing when scaled by 1.5."""
    bmi = load_diabetes(scaled=False).data[:, 2]
    ref, cur = halves(bmi.size, 0)  # a split of KS p = 0.46 (one split in 50 alarms at alpha, as it should)
    as_text = np.array([f"{v:.1f}" for v in bmi], dtype=object)
    detector = KSDrift(workers=1).fit({"bmi": as_text[ref]})
    quiet = detector.score({"bmi": as_text[cur]}).feature("bmi")
    assert (quiet.typing, quiet.kind, quiet.method) == ("numeric_text", "numeric", "ks+spread")
    assert not quiet.drifted
    scaled = np.array([f"{v * 1.5:.1f}" for v in bmi[cur]], dtype=object)
    assert detector.score({"bmi": scaled}).feature("bmi").drifted


def test_low_cardinality_numbers_are_discrete_whether_numbers_or_text() -> None:
    """Diabetes sex (two codes) is typed discrete and tested by chi-square, as floats and as text alike."""
    sex = load_diabetes(scaled=False).data[:, 1]
    ref, cur = halves(sex.size, SEED)
    text = np.array([str(int(v)) for v in sex], dtype=object)
    for reference, current in ((sex[ref], sex[cur]), (text[ref], sex[cur]), (sex[ref], text[cur])):
        feature = KSDrift(workers=1).fit({"sex": reference}).score({"sex": current}).feature("sex")
        assert (feature.typing, feature.method) == ("discrete", "chi_square")
        assert feature.unseen is not None
        assert feature.unseen.count == 0
        assert not feature.drifted


def test_text_with_a_non_number_stays_categorical() -> None:
    """One word among numbers makes the column text, so nothing is silently dropped."""
    values = np.array(["1.5", "2.5", "n/a"] * 20, dtype=object)
    feature = KSDrift(workers=1).fit({"v": values}).score({"v": values}).feature("v")
    assert feature.typing == "categorical"
