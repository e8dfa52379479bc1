"""Right-sizing reads what a real shadow run stores: its batch curves and its quality verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.core.storage.engine import create_engine_for
from rightsize.supply import load_supply
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.store import create_run, finish_run
from shadow.variants import VariantSpec
from tests.shadow.models import iris_tiny_mlp
from tests.shadow.test_runner import _nudged_copy


def test_a_stored_shadow_run_is_read_back_as_curves_and_safety(migrated_db_url: str, tmp_path: Path) -> None:
    """The baseline (safe by definition) and a near copy whose quality passed, with the curve the run measured."""
    tiny = iris_tiny_mlp(tmp_path)
    copy = _nudged_copy(tiny.path, tmp_path / "iris_copy.onnx")
    assert tiny.labels is not None
    inputs = recorded_from_feeds(tiny.feeds() * 2, tiny.labels * 2)
    result = run_shadow(tiny.path, inputs, ShadowOptions(variants=(VariantSpec("onnx", path=copy),), early_stop=False))
    engine = create_engine_for(migrated_db_url)
    try:
        run_id = create_run(engine, "iris", "1", {})
        finish_run(engine, run_id, result)
        supply = {m.variant: m for m in load_supply(engine, "iris", "1")}
        assert load_supply(engine, "iris", "2") == ()
    finally:
        engine.dispose()
    assert set(supply) == {"baseline", "iris_copy.onnx"}
    for measured, stored in ((supply["baseline"], result.baseline), (supply["iris_copy.onnx"], result.variants[0])):
        assert measured.hardware_class == "cpu"
        assert measured.run_id == run_id
        assert measured.unsafe_reason is None
        assert measured.curve is not None
        curve = stored.measurement.batch_curve
        assert measured.curve.sizes == tuple(p.batch for p in curve)
        for point, source in zip(measured.curve.points, curve, strict=True):
            assert point.mean_s == pytest.approx(source.batch / source.rows_per_s)
            assert point.p99_s == pytest.approx(source.p99_ms / 1e3)
            assert point.calls == source.calls
