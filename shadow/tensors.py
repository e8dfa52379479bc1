"""``inferwatch.v1.RawInputs`` bytes to and from ``dict[str, np.ndarray]``, validated both ways."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from google.protobuf.message import DecodeError
from numpy.typing import NDArray

from inferwatch.v1 import common_pb2
from shadow.errors import InvalidTensorError

Array = NDArray[Any]
Feed = dict[str, Array]

# inferwatch.v1.DataType -> numpy dtype; explicit little-endian, as the wire format says.
DTYPE_BY_WIRE: Final[dict[int, np.dtype[Any]]] = {
    common_pb2.DATA_TYPE_FLOAT32: np.dtype("<f4"),
    common_pb2.DATA_TYPE_FLOAT16: np.dtype("<f2"),
    common_pb2.DATA_TYPE_FLOAT64: np.dtype("<f8"),
    common_pb2.DATA_TYPE_INT8: np.dtype("i1"),
    common_pb2.DATA_TYPE_UINT8: np.dtype("u1"),
    common_pb2.DATA_TYPE_INT32: np.dtype("<i4"),
    common_pb2.DATA_TYPE_INT64: np.dtype("<i8"),
    common_pb2.DATA_TYPE_BOOL: np.dtype("?"),
}
WIRE_BY_KIND: Final[dict[str, int]] = {dtype.str[1:]: wire for wire, dtype in DTYPE_BY_WIRE.items()}


def _wire_type(array: Array, name: str) -> int:
    """The DataType of an array, or InvalidTensorError naming the input and its dtype."""
    if array.dtype.kind in {"U", "O", "S"}:
        return common_pb2.DATA_TYPE_STRING
    wire = WIRE_BY_KIND.get(array.dtype.str[1:])  # "<f4", ">f4", "|b1": byte order is fixed on encode
    if wire is None:
        raise InvalidTensorError(f"input {name!r}: dtype {array.dtype} has no inferwatch.v1 DataType")
    return wire


def encode_tensor(array: Array, name: str = "tensor") -> common_pb2.Tensor:
    """One numpy array as a ``Tensor`` message (little-endian, row-major)."""
    tensor = common_pb2.Tensor(shape=list(array.shape))
    tensor.dtype = _wire_type(array, name)  # type: ignore[assignment]  # enum values are ints at run time
    if tensor.dtype == common_pb2.DATA_TYPE_STRING:
        tensor.string_data.extend(str(item) for item in array.reshape(-1).tolist())
    else:
        little = array.astype(DTYPE_BY_WIRE[tensor.dtype], copy=False)
        tensor.data = np.ascontiguousarray(little).tobytes(order="C")
    return tensor


def decode_tensor(tensor: common_pb2.Tensor, name: str = "tensor") -> Array:
    """A ``Tensor`` message as a numpy array; InvalidTensorError names the input and what does not fit."""
    shape = tuple(int(dim) for dim in tensor.shape)
    if any(dim < 0 for dim in shape):
        raise InvalidTensorError(f"input {name!r}: negative dimension in shape {list(shape)}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if tensor.dtype == common_pb2.DATA_TYPE_STRING:
        if len(tensor.string_data) != count:
            raise InvalidTensorError(
                f"input {name!r}: shape {list(shape)} needs {count} strings, got {len(tensor.string_data)}"
            )
        return np.array(list(tensor.string_data), dtype=object).reshape(shape)
    dtype = DTYPE_BY_WIRE.get(tensor.dtype)
    if dtype is None:
        raise InvalidTensorError(f"input {name!r}: unknown or unspecified dtype {tensor.dtype}")
    if len(tensor.data) != count * dtype.itemsize:
        raise InvalidTensorError(
            f"input {name!r}: shape {list(shape)} of {dtype} needs {count * dtype.itemsize} bytes, "
            f"got {len(tensor.data)}"
        )
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def encode_raw_inputs(inputs: Mapping[str, Array]) -> bytes:
    """Serialize model inputs as stored in ``predictions.raw_inputs``."""
    message = common_pb2.RawInputs()
    for name, array in inputs.items():
        message.tensors[name].CopyFrom(encode_tensor(np.asarray(array), name))
    return message.SerializeToString(deterministic=True)


def decode_raw_inputs(data: bytes) -> Feed:
    """Parse ``predictions.raw_inputs`` into a feed for ``InferenceSession.run``."""
    message = common_pb2.RawInputs()
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        raise InvalidTensorError(f"raw inputs are not a serialized inferwatch.v1.RawInputs: {error}") from None
    if not message.tensors:
        raise InvalidTensorError("raw inputs hold no tensors")
    return {name: decode_tensor(message.tensors[name], name) for name in sorted(message.tensors)}


def stack_feeds(feeds: Sequence[Mapping[str, Array]]) -> Feed:
    """Concatenate per-request feeds along the batch axis (axis 0), input by input."""
    if not feeds:
        raise ValueError("`feeds` must not be empty")
    return {name: np.concatenate([feed[name] for feed in feeds], axis=0) for name in feeds[0]}
