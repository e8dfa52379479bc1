"""The stored recommendation as the wire message: reasons the enum lacks go out as the nearest one."""

from __future__ import annotations

import pytest

from inferwatch.v1 import shadow_service_pb2
from shadow.service import _recommendation_to_proto


@pytest.mark.parametrize(
    ("reason", "wire"),
    [
        ("slice", shadow_service_pb2.KEEP_REASON_QUALITY),
        ("unchanged", shadow_service_pb2.KEEP_REASON_NO_GAIN),
        ("no_gain", shadow_service_pb2.KEEP_REASON_NO_GAIN),
    ],
)
def test_keep_reasons_without_an_enum_value_map_to_the_nearest(reason: str, wire: int) -> None:
    """A run kept for a failed slice reads as a quality keep on the wire; the explanation names the slice."""
    message = _recommendation_to_proto(
        {"decision": "keep", "keep_reason": reason, "explanation": "keep: predicted class 4 fails"}
    )
    assert (message.decision, message.keep_reason) == (shadow_service_pb2.DECISION_KEEP, wire)
    assert message.explanation == "keep: predicted class 4 fails"
