"""PCA reconstruction error: a joint shift that every marginal test misses is caught; the null is not flagged."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.drift.multivariate import PCAReconstruction
from detectors.drift.reference import FittedReference
from detectors.drift.streaming import SummaryDrift


def correlated(rows: int, sign: float, seed: int) -> dict[str, np.ndarray]:
    """Two standard-normal features with correlation ``sign * 0.95`` and a third independent one."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(rows)
    b = sign * 0.95 * a + np.sqrt(1 - 0.95**2) * rng.standard_normal(rows)
    return {"a": a, "b": b, "c": rng.standard_normal(rows)}


def verdicts(reference: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> tuple[bool, bool]:
    """(any marginal drifted, the multivariate test drifted), both from summaries as the monitor scores them."""
    fitted = FittedReference.fit(reference)
    window = fitted.summarise(current, None, len(current["a"]))
    marginal = SummaryDrift().fit(fitted.features).score(window.features)
    assert fitted.reconstruction is not None
    assert window.reconstruction is not None
    joint = SummaryDrift().fit({"e": fitted.reconstruction}).score({"e": window.reconstruction})
    return marginal.dataset_drift, joint.dataset_drift


def test_correlation_flip_is_caught_where_marginals_see_nothing() -> None:
    """Reversing a strong correlation leaves each feature N(0, 1), so only the joint test fires."""
    marginal, joint = verdicts(correlated(4000, 1.0, seed=1), correlated(2000, -1.0, seed=2))
    assert not marginal
    assert joint


def test_same_joint_distribution_false_alarm_rate() -> None:
    """Fresh samples of the reference's distribution: at alpha 5%, at most 3 of 20 flag (held-out errors keep
    the reference's error distribution unbiased; in-sample errors would flag nearly every time)."""
    results = [verdicts(correlated(4000, 1.0, seed=seed), correlated(2000, 1.0, seed=seed + 100)) for seed in range(20)]
    assert sum(marginal for marginal, _ in results) <= 3
    assert sum(joint for _, joint in results) <= 3


def test_keeps_fewer_components_than_features_and_round_trips() -> None:
    """At least one dimension is left out (else the error is always 0), and to_dict/from_dict is lossless."""
    model, held_out = PCAReconstruction.fit(correlated(500, 1.0, seed=0))
    assert 1 <= len(model.components) < len(model.features)
    assert held_out.shape == (250, 3)
    assert PCAReconstruction.from_dict(model.to_dict()) == model


def test_missing_values_add_no_error() -> None:
    """A row whose features are all missing sits at the mean, so its error is 0 rather than NaN."""
    model, _ = PCAReconstruction.fit(correlated(500, 1.0, seed=0))
    errors = model.errors({"a": [None, 0.0], "b": [None, 5.0]})
    assert errors[0] == 0.0
    assert errors[1] > 1.0


def test_too_few_features_or_rows_is_a_clear_error() -> None:
    """PCA refuses one feature or a tiny reference, naming what is short."""
    with pytest.raises(ValueError, match="at least 2 numeric features"):
        PCAReconstruction.fit({"a": np.zeros(500)})
    with pytest.raises(ValueError, match="at least 100 reference rows"):
        PCAReconstruction.fit({"a": np.zeros(10), "b": np.ones(10)})
