"""The stored recommendation and variant results as wire messages: every keep reason has its own value."""

from __future__ import annotations

import pytest

from inferwatch.v1 import shadow_service_pb2
from shadow.plan import _BUILTINS
from shadow.service import _recommendation_to_proto, _variant_to_proto


@pytest.mark.parametrize(
    ("reason", "wire"),
    [
        ("quality", shadow_service_pb2.KEEP_REASON_QUALITY),
        ("slice", shadow_service_pb2.KEEP_REASON_SLICE),
        ("unchanged", shadow_service_pb2.KEEP_REASON_UNCHANGED),
        ("no_gain", shadow_service_pb2.KEEP_REASON_NO_GAIN),
        ("no_variant", shadow_service_pb2.KEEP_REASON_NO_VARIANT),
        ("unpriced", shadow_service_pb2.KEEP_REASON_UNPRICED),
        ("not_enough_traffic", shadow_service_pb2.KEEP_REASON_NOT_ENOUGH_TRAFFIC),
    ],
)
def test_every_keep_reason_has_its_own_wire_value(reason: str, wire: int) -> None:
    """A run kept for a failed slice reads as a slice keep on the wire, with its headline and closest variant."""
    message = _recommendation_to_proto(
        {
            "decision": "keep",
            "keep_reason": reason,
            "explanation": "keep: predicted class 4 fails",
            "headline": "keep the baseline (slice): closest was int8-dynamic",
            "closest": "int8-dynamic",
        }
    )
    assert (message.decision, message.keep_reason) == (shadow_service_pb2.DECISION_KEEP, wire)
    assert message.explanation == "keep: predicted class 4 fails"
    assert (message.headline, message.closest_variant) == (
        "keep the baseline (slice): closest was int8-dynamic",
        "int8-dynamic",
    )


def test_batch_curves_go_out_on_the_wire() -> None:
    """Each stored batch point becomes a BatchPoint, priced where the class has a price."""
    metrics = {
        "measurement": {
            "batch_curve": [
                {"batch": 1, "calls": 10, "p50_ms": 0.5, "p99_ms": 0.9, "rows_per_s": 2000.0, "cost_per_1k_usd": 0.01},
                {"batch": 8, "calls": 10, "p50_ms": 1.0, "p99_ms": 1.5, "rows_per_s": 8000.0, "cost_per_1k_usd": None},
            ]
        }
    }
    message = _variant_to_proto("int8-dynamic", metrics, None)
    assert [(p.batch_size, p.rows_per_s, p.cost_per_1k_predictions) for p in message.batch_curve] == [
        (1, 2000.0, 0.01),
        (8, 8000.0, 0.0),
    ]


def test_pruning_and_distillation_can_be_asked_for_over_grpc() -> None:
    """The new variant families have builtin enum values."""
    assert {
        _BUILTINS[shadow_service_pb2.BUILTIN_VARIANT_PRUNE_25],
        _BUILTINS[shadow_service_pb2.BUILTIN_VARIANT_DISTILL_GBT],
    } == {
        "prune-25",
        "distill-gbt",
    }
