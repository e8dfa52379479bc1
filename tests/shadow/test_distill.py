"""Distilled students: fitted on held-out traffic against the baseline's outputs, judged on the rest, said so."""

from __future__ import annotations

from pathlib import Path

from shadow.replay import ReplayOptions
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.variants import VariantFailure, build_variants, parse_variant_specs
from tests.shadow.models import BuiltModel, sequence_model

FAST = ReplayOptions(round_seconds=0.01, curve_max_batch=4, curve_seconds=0.005)


def test_students_on_digits_are_trained_on_held_out_traffic_and_judged_on_the_rest(digits: BuiltModel) -> None:
    """An MLP and a boosted-trees student of the digits MLP: half the traffic trains them, the other half
    judges them, and every explanation says that the student was trained on traffic."""
    assert digits.labels is not None
    options = ShadowOptions(variants=parse_variant_specs("distill-mlp,distill-gbt"), early_stop=False, replay=FAST)
    result = run_shadow(digits.path, recorded_from_feeds(digits.feeds(), digits.labels), options)
    assert result.calibration_requests == len(digits.rows) // 2
    assert result.requests_replayed == len(digits.rows) - result.calibration_requests
    assert [r.key for r in result.variants] == ["distill-mlp", "distill-gbt"]
    for variant in result.variants:
        assert variant.verdict is not None
        assert variant.comparison is not None
        assert variant.comparison.agreement is not None
        # A student learns the teacher's answers: far above the 10% of guessing, on inputs it never saw.
        assert variant.comparison.agreement.rate > 0.7
        assert f"trained on traffic: a student fitted on {result.calibration_requests} recorded inputs" in (
            variant.verdict.explanation
        )
        assert variant.variant.notes[0].startswith("distilled: scikit-learn ")


def test_distillation_is_skipped_where_there_are_no_feature_rows(tmp_path: Path) -> None:
    """Sequences of different lengths are no table of features: the student is skipped with a note."""
    path, feeds = sequence_model(tmp_path)
    (built,) = build_variants(path, parse_variant_specs("distill-mlp"), tmp_path / "out", feeds)
    assert isinstance(built, VariantFailure)
    assert built.skipped
    assert "one row of features per request" in built.error
