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


def test_a_variant_result_carries_its_nodes_hardware_notes_and_pricing_warning() -> None:
    """The stored node (as a Ray worker reports it) becomes NodeHardware; a retry's note and a GPU class that the
    node does not have go out with the result."""
    node = {
        "node_id": "a1b2c3",
        "hostname": "gpu-3",
        "cpu_model": "AMD EPYC 7R13",
        "cpu_flags": "avx2 fma f16c",
        "cpu_count": "16",
        "gpus": "NVIDIA T4; NVIDIA T4",
        "onnxruntime": "1.20.1",
        "providers": "CUDAExecutionProvider,CPUExecutionProvider",
    }
    retried = "retried on another node of nvidia-l4 after its worker died on node gpu-2 (d4e5f6): killed"
    metrics = {
        "measurement": {
            "execution_provider": "CUDAExecutionProvider",
            "hardware_class": "nvidia-l4",
            "node": node,
            "notes": [retried],
        }
    }
    message = _variant_to_proto("fp16@CUDAExecutionProvider", metrics, None)
    assert (message.node.hostname, message.node.node_id, message.node.cpu_model) == ("gpu-3", "a1b2c3", "AMD EPYC 7R13")
    assert (message.node.cpu_flags, message.node.cpu_count, message.node.onnxruntime_version) == (
        "avx2 fma f16c",
        16,
        "1.20.1",
    )
    assert list(message.node.gpus) == ["NVIDIA T4", "NVIDIA T4"]
    assert list(message.node.available_providers) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert list(message.notes) == [retried]
    assert message.pricing_warning == "priced as nvidia-l4, but gpu-3 has nvidia-t4"
    plain = _variant_to_proto("baseline", {"measurement": {"hardware_class": "cpu", "node": node}}, None)
    assert plain.pricing_warning == ""
    assert not plain.notes


def test_pruning_and_distillation_can_be_asked_for_over_grpc() -> None:
    """The new variant families have builtin enum values."""
    assert {
        _BUILTINS[shadow_service_pb2.BUILTIN_VARIANT_PRUNE_25],
        _BUILTINS[shadow_service_pb2.BUILTIN_VARIANT_DISTILL_GBT],
    } == {
        "prune-25",
        "distill-gbt",
    }
