"""RawInputs bytes to numpy feeds and back."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from inferwatch.v1 import common_pb2
from shadow.errors import InvalidTensorError
from shadow.tensors import DTYPE_BY_WIRE, decode_raw_inputs, encode_raw_inputs, stack_feeds

_DTYPES = st.sampled_from([dtype.newbyteorder("=") for dtype in DTYPE_BY_WIRE.values()])
_ARRAYS = _DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0)))


@given(st.dictionaries(st.text(min_size=1, max_size=8), _ARRAYS, min_size=1, max_size=3))
def test_round_trip_numeric(inputs: dict[str, np.ndarray]) -> None:
    """Every numeric dtype and shape survives encode then decode bit for bit."""
    decoded = decode_raw_inputs(encode_raw_inputs(inputs))
    assert decoded.keys() == inputs.keys()
    for name, array in inputs.items():
        assert decoded[name].dtype == array.dtype
        assert decoded[name].shape == array.shape
        assert decoded[name].tobytes() == array.tobytes()


@given(st.lists(st.text(max_size=5), min_size=1, max_size=6))
def test_round_trip_strings(items: list[str]) -> None:
    """String tensors travel in string_data and come back as object arrays."""
    decoded = decode_raw_inputs(encode_raw_inputs({"s": np.array(items, dtype=object)}))
    assert decoded["s"].tolist() == items


def test_big_endian_input_is_stored_little_endian() -> None:
    """A big-endian array is converted, not reinterpreted."""
    decoded = decode_raw_inputs(encode_raw_inputs({"x": np.arange(3, dtype=">f4")}))
    assert decoded["x"].tolist() == [0.0, 1.0, 2.0]


def test_shape_that_does_not_fit_the_data_is_named() -> None:
    """A tensor whose byte count disagrees with its shape raises naming the input and both sizes."""
    message = common_pb2.RawInputs()
    message.tensors["x"].dtype = common_pb2.DATA_TYPE_FLOAT32
    message.tensors["x"].shape.extend([2, 3])
    message.tensors["x"].data = b"\0" * 20
    with pytest.raises(InvalidTensorError, match=r"'x'.*needs 24 bytes, got 20"):
        decode_raw_inputs(message.SerializeToString())


def test_unspecified_dtype_and_garbage_are_rejected() -> None:
    """An unspecified dtype and bytes that are not RawInputs raise InvalidTensorError."""
    message = common_pb2.RawInputs()
    message.tensors["x"].shape.append(1)
    with pytest.raises(InvalidTensorError, match="unspecified dtype"):
        decode_raw_inputs(message.SerializeToString())
    with pytest.raises(InvalidTensorError):
        decode_raw_inputs(b"\xff\xff\xff")
    with pytest.raises(InvalidTensorError, match="no tensors"):
        decode_raw_inputs(b"")


def test_unsupported_dtype_is_named() -> None:
    """A complex array has no wire type; the error names the input and dtype."""
    with pytest.raises(InvalidTensorError, match=r"'z'.*complex64"):
        encode_raw_inputs({"z": np.zeros(2, dtype=np.complex64)})


def test_stack_feeds_concatenates_on_the_batch_axis() -> None:
    """Feeds of batch 1 stack into one batch, input by input."""
    feeds = [{"x": np.full((1, 2), i, dtype=np.float32)} for i in range(3)]
    assert stack_feeds(feeds)["x"].shape == (3, 2)
