"""Cardinality limits: labels past a limit become "other" and are counted; known ones keep their place."""

from __future__ import annotations

from collections import Counter

from collector.ingest.cardinality import OTHER, CardinalityLimiter, CardinalityLimits
from tests.collector.test_writer import span


def test_models_past_the_limit_are_rolled_up_as_other() -> None:
    """200 made-up model names with a limit of 3: three keep their names, the rest share "other"."""
    counted: Counter[str] = Counter()
    limiter = CardinalityLimiter(
        CardinalityLimits(max_models=3), on_overflow=lambda dimension, count: counted.update({dimension: count})
    )
    records = [span(number, model_name=f"model-{number}") for number in range(1, 201)]
    limited = limiter.limit(records)
    assert {record.model_name for record in limited} == {"model-1", "model-2", "model-3", OTHER}
    assert counted == {"model": 197}
    assert limiter.limit([span(1, model_name="model-2")])[0].model_name == "model-2"


def test_versions_operations_and_hardware_are_limited_per_dimension() -> None:
    """Each dimension has its own limit; versions and operations count per model."""
    limiter = CardinalityLimiter(
        CardinalityLimits(max_versions_per_model=2, max_operations_per_model=1, max_hardware_classes=1)
    )
    records = [
        span(1, model_version="1", operation="predict", hardware_class="cpu"),
        span(2, model_version="2", operation="embed", hardware_class="gpu"),
        span(3, model_version="3", operation="predict", hardware_class="cpu"),
        span(4, model_name="other-model", model_version="9", operation="rank", hardware_class="cpu"),
    ]
    limited = limiter.limit(records)
    assert [(r.model_version, r.operation, r.hardware_class) for r in limited] == [
        ("1", "predict", "cpu"),
        ("2", OTHER, OTHER),
        (OTHER, "predict", "cpu"),
        ("9", "rank", "cpu"),
    ]


def test_seeded_models_keep_their_place_after_a_restart() -> None:
    """Models seen before the restart are admitted first, so newcomers cannot push them out."""
    limiter = CardinalityLimiter(CardinalityLimits(max_models=2))
    limiter.seed([("fraud", "1", "predict", "cpu"), ("churn", "1", "predict", "cpu")])
    limited = limiter.limit([span(1, model_name="spam"), span(2, model_name="fraud")])
    assert [record.model_name for record in limited] == [OTHER, "fraud"]
