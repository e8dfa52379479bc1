"""Fitted references and window summaries: round trips, merging, kinds, and the edges of the input."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.drift.performance import classification_performance
from detectors.drift.reference import FittedReference
from detectors.drift.summaries import CategoricalSummary, NumericSummary


def table(rows: int, seed: int) -> dict[str, list[object]]:
    """Two numeric features, a categorical one, and a numeric one with three distinct values."""
    rng = np.random.default_rng(seed)
    return {
        "amount": rng.lognormal(3, 1, rows).tolist(),
        "age": rng.normal(40, 10, rows).tolist(),
        "country": rng.choice(["DE", "FR", "US"], rows).tolist(),
        "tier": rng.choice([1.0, 2.0, 3.0], rows).tolist(),
    }


def test_kinds_follow_the_values() -> None:
    """Numbers with many values are numeric; text and few-valued numbers are categorical; named ones too."""
    fitted = FittedReference.fit(table(500, 0), categorical=["age"])
    kinds = {item["name"]: item["kind"] for item in fitted.feature_kinds()}
    assert kinds == {"amount": "numeric", "age": "categorical", "country": "categorical", "tier": "categorical"}


def test_round_trip_is_lossless() -> None:
    """to_bytes/from_bytes keeps every summary, the PCA model and the performance."""
    performance = classification_performance(["a", "b"] * 50, ["a", "a"] * 50)
    outputs = {"output.label": ["a", "b"] * 250}
    fitted = FittedReference.fit(table(500, 0), outputs, performance=performance)
    assert fitted.pca is not None
    assert fitted.reconstruction is not None
    assert FittedReference.from_bytes(fitted.to_bytes()) == fitted


def test_not_a_reference_is_a_clear_error() -> None:
    """Bytes of something else are refused with the reason."""
    with pytest.raises(ValueError, match=r"expected schema inferwatch\.reference/v1"):
        FittedReference.from_bytes(b'{"schema": "other"}')
    with pytest.raises(ValueError, match="not a fitted reference"):
        FittedReference.from_bytes(b"\x00garbage")


def test_window_summaries_merge_to_the_summary_of_both() -> None:
    """Summarising two intervals and merging equals summarising them together, and survives storage."""
    fitted = FittedReference.fit(table(1000, 0))
    first, second = table(300, 1), table(200, 2)
    both = {name: first[name] + second[name] for name in first}
    merged = fitted.summarise(first, None, 300).merge(fitted.summarise(second, None, 200))
    together = fitted.summarise(both, None, 500)
    assert merged.rows == together.rows == 500
    for name in first:
        a, b = merged.features[name], together.features[name]
        if isinstance(a, NumericSummary) and isinstance(b, NumericSummary):
            assert a.counts == b.counts
            assert a.missing == b.missing
            assert a.total == pytest.approx(b.total)
        else:
            assert a == b
    stored = fitted.window_from_json(merged.to_json())
    assert stored.features.keys() == merged.features.keys()
    assert stored.rows == 500


def test_window_lacking_a_feature_counts_it_missing_and_text_in_a_number_too() -> None:
    """A feature the window never sends, or text where a number belongs (a schema change), is missing."""
    fitted = FittedReference.fit(table(500, 0))
    window = fitted.summarise({"amount": ["n/a", 3.0], "country": ["DE", None]}, None, 2)
    age, amount, country = window.features["age"], window.features["amount"], window.features["country"]
    assert isinstance(age, NumericSummary)
    assert age.missing == 2
    assert age.count == 0
    assert isinstance(amount, NumericSummary)
    assert amount.missing == 1
    assert amount.count == 1
    assert isinstance(country, CategoricalSummary)
    assert country.missing == 1


def test_whole_floats_and_integers_are_one_category() -> None:
    """A categorical number sent as 2 by one client and 2.0 by another is the same category."""
    fitted = FittedReference.fit({"tier": [1, 2, 3] * 100})
    window = fitted.summarise({"tier": [2.0, 2, 3.0]}, None, 3)
    tier = window.features["tier"]
    assert isinstance(tier, CategoricalSummary)
    assert dict(tier.counts) == {"2": 2, "3": 1}


def test_empty_or_ragged_reference_is_refused() -> None:
    """No features, no rows or columns of different lengths name the problem."""
    with pytest.raises(ValueError, match="at least one feature"):
        FittedReference.fit({})
    with pytest.raises(ValueError, match="at least one row"):
        FittedReference.fit({"a": []})
    with pytest.raises(ValueError, match="different lengths"):
        FittedReference.fit({"a": [1.0], "b": [1.0, 2.0]})
