import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from inferwatch.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BuiltinVariant(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUILTIN_VARIANT_UNSPECIFIED: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_INT8_DYNAMIC: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_INT8_STATIC: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_FLOAT16: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_PRUNE_25: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_PRUNE_50: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_DISTILL_MLP: _ClassVar[BuiltinVariant]
    BUILTIN_VARIANT_DISTILL_GBT: _ClassVar[BuiltinVariant]

class ShadowRunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHADOW_RUN_STATE_UNSPECIFIED: _ClassVar[ShadowRunState]
    SHADOW_RUN_STATE_QUEUED: _ClassVar[ShadowRunState]
    SHADOW_RUN_STATE_RUNNING: _ClassVar[ShadowRunState]
    SHADOW_RUN_STATE_SUCCEEDED: _ClassVar[ShadowRunState]
    SHADOW_RUN_STATE_FAILED: _ClassVar[ShadowRunState]
    SHADOW_RUN_STATE_CANCELLED: _ClassVar[ShadowRunState]

class ShadowRunPartState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHADOW_RUN_PART_STATE_UNSPECIFIED: _ClassVar[ShadowRunPartState]
    SHADOW_RUN_PART_STATE_QUEUED: _ClassVar[ShadowRunPartState]
    SHADOW_RUN_PART_STATE_RUNNING: _ClassVar[ShadowRunPartState]
    SHADOW_RUN_PART_STATE_DONE: _ClassVar[ShadowRunPartState]
    SHADOW_RUN_PART_STATE_FAILED: _ClassVar[ShadowRunPartState]
    SHADOW_RUN_PART_STATE_RETRIED: _ClassVar[ShadowRunPartState]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_SWITCH: _ClassVar[Decision]
    DECISION_KEEP: _ClassVar[Decision]

class KeepReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEEP_REASON_UNSPECIFIED: _ClassVar[KeepReason]
    KEEP_REASON_QUALITY: _ClassVar[KeepReason]
    KEEP_REASON_NO_GAIN: _ClassVar[KeepReason]
    KEEP_REASON_NOT_ENOUGH_TRAFFIC: _ClassVar[KeepReason]
    KEEP_REASON_UNPRICED: _ClassVar[KeepReason]
    KEEP_REASON_SLICE: _ClassVar[KeepReason]
    KEEP_REASON_UNCHANGED: _ClassVar[KeepReason]
    KEEP_REASON_NO_VARIANT: _ClassVar[KeepReason]
BUILTIN_VARIANT_UNSPECIFIED: BuiltinVariant
BUILTIN_VARIANT_INT8_DYNAMIC: BuiltinVariant
BUILTIN_VARIANT_INT8_STATIC: BuiltinVariant
BUILTIN_VARIANT_FLOAT16: BuiltinVariant
BUILTIN_VARIANT_PRUNE_25: BuiltinVariant
BUILTIN_VARIANT_PRUNE_50: BuiltinVariant
BUILTIN_VARIANT_DISTILL_MLP: BuiltinVariant
BUILTIN_VARIANT_DISTILL_GBT: BuiltinVariant
SHADOW_RUN_STATE_UNSPECIFIED: ShadowRunState
SHADOW_RUN_STATE_QUEUED: ShadowRunState
SHADOW_RUN_STATE_RUNNING: ShadowRunState
SHADOW_RUN_STATE_SUCCEEDED: ShadowRunState
SHADOW_RUN_STATE_FAILED: ShadowRunState
SHADOW_RUN_STATE_CANCELLED: ShadowRunState
SHADOW_RUN_PART_STATE_UNSPECIFIED: ShadowRunPartState
SHADOW_RUN_PART_STATE_QUEUED: ShadowRunPartState
SHADOW_RUN_PART_STATE_RUNNING: ShadowRunPartState
SHADOW_RUN_PART_STATE_DONE: ShadowRunPartState
SHADOW_RUN_PART_STATE_FAILED: ShadowRunPartState
SHADOW_RUN_PART_STATE_RETRIED: ShadowRunPartState
DECISION_UNSPECIFIED: Decision
DECISION_SWITCH: Decision
DECISION_KEEP: Decision
KEEP_REASON_UNSPECIFIED: KeepReason
KEEP_REASON_QUALITY: KeepReason
KEEP_REASON_NO_GAIN: KeepReason
KEEP_REASON_NOT_ENOUGH_TRAFFIC: KeepReason
KEEP_REASON_UNPRICED: KeepReason
KEEP_REASON_SLICE: KeepReason
KEEP_REASON_UNCHANGED: KeepReason
KEEP_REASON_NO_VARIANT: KeepReason

class VariantSpec(_message.Message):
    __slots__ = ("builtin", "onnx_path", "execution_provider", "hardware_class")
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    ONNX_PATH_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    builtin: BuiltinVariant
    onnx_path: str
    execution_provider: str
    hardware_class: str
    def __init__(self, builtin: _Optional[_Union[BuiltinVariant, str]] = ..., onnx_path: _Optional[str] = ..., execution_provider: _Optional[str] = ..., hardware_class: _Optional[str] = ...) -> None: ...

class QualityMargin(_message.Message):
    __slots__ = ("min_agreement_lower_bound", "max_accuracy_loss_points", "min_improvement", "confidence")
    MIN_AGREEMENT_LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    MAX_ACCURACY_LOSS_POINTS_FIELD_NUMBER: _ClassVar[int]
    MIN_IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    min_agreement_lower_bound: float
    max_accuracy_loss_points: float
    min_improvement: float
    confidence: float
    def __init__(self, min_agreement_lower_bound: _Optional[float] = ..., max_accuracy_loss_points: _Optional[float] = ..., min_improvement: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class StartShadowRunRequest(_message.Message):
    __slots__ = ("model", "variants", "requests", "batch_size", "sample_range", "margin", "disable_early_stop")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RANGE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    DISABLE_EARLY_STOP_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    variants: _containers.RepeatedCompositeFieldContainer[VariantSpec]
    requests: int
    batch_size: int
    sample_range: _common_pb2.TimeRange
    margin: QualityMargin
    disable_early_stop: bool
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., variants: _Optional[_Iterable[_Union[VariantSpec, _Mapping]]] = ..., requests: _Optional[int] = ..., batch_size: _Optional[int] = ..., sample_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., margin: _Optional[_Union[QualityMargin, _Mapping]] = ..., disable_early_stop: _Optional[bool] = ...) -> None: ...

class GetShadowRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ShadowRun(_message.Message):
    __slots__ = ("run_id", "model", "state", "progress_done", "progress_total", "phase", "error", "created_at", "started_at", "finished_at", "parts", "owner", "heartbeat_at", "interruptions", "notes")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_DONE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTIONS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    model: _common_pb2.ModelRef
    state: ShadowRunState
    progress_done: int
    progress_total: int
    phase: str
    error: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    parts: _containers.RepeatedCompositeFieldContainer[ShadowRunPart]
    owner: str
    heartbeat_at: _timestamp_pb2.Timestamp
    interruptions: int
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., state: _Optional[_Union[ShadowRunState, str]] = ..., progress_done: _Optional[int] = ..., progress_total: _Optional[int] = ..., phase: _Optional[str] = ..., error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parts: _Optional[_Iterable[_Union[ShadowRunPart, _Mapping]]] = ..., owner: _Optional[str] = ..., heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interruptions: _Optional[int] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class ShadowRunPart(_message.Message):
    __slots__ = ("key", "execution_provider", "hardware_class", "state", "progress_done", "progress_total", "hostname", "node_id", "error")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_DONE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    key: str
    execution_provider: str
    hardware_class: str
    state: ShadowRunPartState
    progress_done: int
    progress_total: int
    hostname: str
    node_id: str
    error: str
    def __init__(self, key: _Optional[str] = ..., execution_provider: _Optional[str] = ..., hardware_class: _Optional[str] = ..., state: _Optional[_Union[ShadowRunPartState, str]] = ..., progress_done: _Optional[int] = ..., progress_total: _Optional[int] = ..., hostname: _Optional[str] = ..., node_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class LatencyStats(_message.Message):
    __slots__ = ("p50_ms", "p99_ms", "mean_ms", "samples")
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    p50_ms: float
    p99_ms: float
    mean_ms: float
    samples: int
    def __init__(self, p50_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., samples: _Optional[int] = ...) -> None: ...

class QualityStats(_message.Message):
    __slots__ = ("agreement", "agreement_lower_bound", "accuracy", "baseline_accuracy", "accuracy_loss_upper_bound_points", "outcomes_used", "max_abs_diff", "mean_kl_divergence", "error_vs_baseline", "error_vs_baseline_upper_bound")
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_LOSS_UPPER_BOUND_POINTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_USED_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    MEAN_KL_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_VS_BASELINE_FIELD_NUMBER: _ClassVar[int]
    ERROR_VS_BASELINE_UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    agreement: float
    agreement_lower_bound: float
    accuracy: float
    baseline_accuracy: float
    accuracy_loss_upper_bound_points: float
    outcomes_used: int
    max_abs_diff: float
    mean_kl_divergence: float
    error_vs_baseline: float
    error_vs_baseline_upper_bound: float
    def __init__(self, agreement: _Optional[float] = ..., agreement_lower_bound: _Optional[float] = ..., accuracy: _Optional[float] = ..., baseline_accuracy: _Optional[float] = ..., accuracy_loss_upper_bound_points: _Optional[float] = ..., outcomes_used: _Optional[int] = ..., max_abs_diff: _Optional[float] = ..., mean_kl_divergence: _Optional[float] = ..., error_vs_baseline: _Optional[float] = ..., error_vs_baseline_upper_bound: _Optional[float] = ...) -> None: ...

class VariantResult(_message.Message):
    __slots__ = ("name", "execution_provider", "hardware_class", "latency_batch1", "throughput_per_s", "throughput_batch_size", "peak_memory_bytes", "quality", "cost_per_1k_predictions", "requests_replayed", "stopped_early", "error", "artifact_bytes", "batch_curve", "node", "notes", "pricing_warning")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BATCH1_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_PER_S_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    COST_PER_1K_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_EARLY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_BYTES_FIELD_NUMBER: _ClassVar[int]
    BATCH_CURVE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    PRICING_WARNING_FIELD_NUMBER: _ClassVar[int]
    name: str
    execution_provider: str
    hardware_class: str
    latency_batch1: LatencyStats
    throughput_per_s: float
    throughput_batch_size: int
    peak_memory_bytes: int
    quality: QualityStats
    cost_per_1k_predictions: float
    requests_replayed: int
    stopped_early: bool
    error: str
    artifact_bytes: int
    batch_curve: _containers.RepeatedCompositeFieldContainer[BatchPoint]
    node: NodeHardware
    notes: _containers.RepeatedScalarFieldContainer[str]
    pricing_warning: str
    def __init__(self, name: _Optional[str] = ..., execution_provider: _Optional[str] = ..., hardware_class: _Optional[str] = ..., latency_batch1: _Optional[_Union[LatencyStats, _Mapping]] = ..., throughput_per_s: _Optional[float] = ..., throughput_batch_size: _Optional[int] = ..., peak_memory_bytes: _Optional[int] = ..., quality: _Optional[_Union[QualityStats, _Mapping]] = ..., cost_per_1k_predictions: _Optional[float] = ..., requests_replayed: _Optional[int] = ..., stopped_early: _Optional[bool] = ..., error: _Optional[str] = ..., artifact_bytes: _Optional[int] = ..., batch_curve: _Optional[_Iterable[_Union[BatchPoint, _Mapping]]] = ..., node: _Optional[_Union[NodeHardware, _Mapping]] = ..., notes: _Optional[_Iterable[str]] = ..., pricing_warning: _Optional[str] = ...) -> None: ...

class NodeHardware(_message.Message):
    __slots__ = ("hostname", "node_id", "cpu_model", "cpu_flags", "cpu_count", "gpus", "onnxruntime_version", "available_providers")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    CPU_FLAGS_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    ONNXRUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    node_id: str
    cpu_model: str
    cpu_flags: str
    cpu_count: int
    gpus: _containers.RepeatedScalarFieldContainer[str]
    onnxruntime_version: str
    available_providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hostname: _Optional[str] = ..., node_id: _Optional[str] = ..., cpu_model: _Optional[str] = ..., cpu_flags: _Optional[str] = ..., cpu_count: _Optional[int] = ..., gpus: _Optional[_Iterable[str]] = ..., onnxruntime_version: _Optional[str] = ..., available_providers: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchPoint(_message.Message):
    __slots__ = ("batch_size", "p50_ms", "p99_ms", "rows_per_s", "cost_per_1k_predictions")
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_PER_S_FIELD_NUMBER: _ClassVar[int]
    COST_PER_1K_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    p50_ms: float
    p99_ms: float
    rows_per_s: float
    cost_per_1k_predictions: float
    def __init__(self, batch_size: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., rows_per_s: _Optional[float] = ..., cost_per_1k_predictions: _Optional[float] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("decision", "variant", "keep_reason", "explanation", "latency_improvement", "cost_improvement", "headline", "closest_variant")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    KEEP_REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    COST_IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    CLOSEST_VARIANT_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    variant: str
    keep_reason: KeepReason
    explanation: str
    latency_improvement: float
    cost_improvement: float
    headline: str
    closest_variant: str
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., variant: _Optional[str] = ..., keep_reason: _Optional[_Union[KeepReason, str]] = ..., explanation: _Optional[str] = ..., latency_improvement: _Optional[float] = ..., cost_improvement: _Optional[float] = ..., headline: _Optional[str] = ..., closest_variant: _Optional[str] = ...) -> None: ...

class ShadowRunResult(_message.Message):
    __slots__ = ("run", "variants", "recommendation", "report_path")
    RUN_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    REPORT_PATH_FIELD_NUMBER: _ClassVar[int]
    run: ShadowRun
    variants: _containers.RepeatedCompositeFieldContainer[VariantResult]
    recommendation: Recommendation
    report_path: str
    def __init__(self, run: _Optional[_Union[ShadowRun, _Mapping]] = ..., variants: _Optional[_Iterable[_Union[VariantResult, _Mapping]]] = ..., recommendation: _Optional[_Union[Recommendation, _Mapping]] = ..., report_path: _Optional[str] = ...) -> None: ...

class ListShadowRunsRequest(_message.Message):
    __slots__ = ("model", "page_size", "page_token")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    page_size: int
    page_token: str
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListShadowRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[ShadowRun]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[ShadowRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
