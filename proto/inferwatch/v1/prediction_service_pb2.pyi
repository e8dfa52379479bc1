from inferwatch.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Prediction(_message.Message):
    __slots__ = ("prediction_id", "model", "time_unix_nano", "features", "output", "raw_inputs", "trace_id", "span_id", "attributes", "latency_ms")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    class RawInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RAW_INPUTS_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    model: _common_pb2.ModelRef
    time_unix_nano: int
    features: _containers.MessageMap[str, _common_pb2.FeatureValue]
    output: _common_pb2.Output
    raw_inputs: _containers.MessageMap[str, _common_pb2.Tensor]
    trace_id: bytes
    span_id: bytes
    attributes: _containers.ScalarMap[str, str]
    latency_ms: float
    def __init__(self, prediction_id: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., time_unix_nano: _Optional[int] = ..., features: _Optional[_Mapping[str, _common_pb2.FeatureValue]] = ..., output: _Optional[_Union[_common_pb2.Output, _Mapping]] = ..., raw_inputs: _Optional[_Mapping[str, _common_pb2.Tensor]] = ..., trace_id: _Optional[bytes] = ..., span_id: _Optional[bytes] = ..., attributes: _Optional[_Mapping[str, str]] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class LogPredictionsRequest(_message.Message):
    __slots__ = ("predictions",)
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    def __init__(self, predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...) -> None: ...

class LogPredictionsResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "errors", "non_finite_values", "warnings")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    NON_FINITE_VALUES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    non_finite_values: int
    warnings: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemWarning]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ..., non_finite_values: _Optional[int] = ..., warnings: _Optional[_Iterable[_Union[_common_pb2.ItemWarning, _Mapping]]] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("prediction_id", "model", "time_unix_nano", "actual")
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    model: _common_pb2.ModelRef
    time_unix_nano: int
    actual: _common_pb2.Output
    def __init__(self, prediction_id: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., time_unix_nano: _Optional[int] = ..., actual: _Optional[_Union[_common_pb2.Output, _Mapping]] = ...) -> None: ...

class LogOutcomesRequest(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[Outcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[Outcome, _Mapping]]] = ...) -> None: ...

class LogOutcomesResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "errors", "warnings")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    warnings: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemWarning]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[_common_pb2.ItemWarning, _Mapping]]] = ...) -> None: ...
