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

class RightsizeDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RIGHTSIZE_DECISION_UNSPECIFIED: _ClassVar[RightsizeDecision]
    RIGHTSIZE_DECISION_KEEP: _ClassVar[RightsizeDecision]
    RIGHTSIZE_DECISION_SWITCH: _ClassVar[RightsizeDecision]
    RIGHTSIZE_DECISION_UNKNOWN: _ClassVar[RightsizeDecision]
    RIGHTSIZE_DECISION_NONE: _ClassVar[RightsizeDecision]
RIGHTSIZE_DECISION_UNSPECIFIED: RightsizeDecision
RIGHTSIZE_DECISION_KEEP: RightsizeDecision
RIGHTSIZE_DECISION_SWITCH: RightsizeDecision
RIGHTSIZE_DECISION_UNKNOWN: RightsizeDecision
RIGHTSIZE_DECISION_NONE: RightsizeDecision

class RightsizeRequest(_message.Message):
    __slots__ = ("model", "since", "current_replicas", "current_hardware_class", "headroom", "margin")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    HEADROOM_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    since: _timestamp_pb2.Timestamp
    current_replicas: int
    current_hardware_class: str
    headroom: float
    margin: float
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_replicas: _Optional[int] = ..., current_hardware_class: _Optional[str] = ..., headroom: _Optional[float] = ..., margin: _Optional[float] = ...) -> None: ...

class RightsizeHour(_message.Message):
    __slots__ = ("hour", "mean_rps", "peak_rps")
    HOUR_FIELD_NUMBER: _ClassVar[int]
    MEAN_RPS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RPS_FIELD_NUMBER: _ClassVar[int]
    hour: int
    mean_rps: float
    peak_rps: float
    def __init__(self, hour: _Optional[int] = ..., mean_rps: _Optional[float] = ..., peak_rps: _Optional[float] = ...) -> None: ...

class RightsizeDemand(_message.Message):
    __slots__ = ("start", "end", "requests", "active_minutes", "peak_quantile", "peak_rps", "max_rps", "mean_rps", "busy_replicas", "busy_share", "daily", "weekly")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PEAK_QUANTILE_FIELD_NUMBER: _ClassVar[int]
    PEAK_RPS_FIELD_NUMBER: _ClassVar[int]
    MAX_RPS_FIELD_NUMBER: _ClassVar[int]
    MEAN_RPS_FIELD_NUMBER: _ClassVar[int]
    BUSY_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    BUSY_SHARE_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    requests: int
    active_minutes: int
    peak_quantile: float
    peak_rps: float
    max_rps: float
    mean_rps: float
    busy_replicas: float
    busy_share: float
    daily: _containers.RepeatedCompositeFieldContainer[RightsizeHour]
    weekly: _containers.RepeatedCompositeFieldContainer[RightsizeHour]
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests: _Optional[int] = ..., active_minutes: _Optional[int] = ..., peak_quantile: _Optional[float] = ..., peak_rps: _Optional[float] = ..., max_rps: _Optional[float] = ..., mean_rps: _Optional[float] = ..., busy_replicas: _Optional[float] = ..., busy_share: _Optional[float] = ..., daily: _Optional[_Iterable[_Union[RightsizeHour, _Mapping]]] = ..., weekly: _Optional[_Iterable[_Union[RightsizeHour, _Mapping]]] = ...) -> None: ...

class RightsizeServicePoint(_message.Message):
    __slots__ = ("batch_size", "calls", "mean_ms", "p99_ms", "rows_per_s", "rows_per_s_bound")
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_PER_S_FIELD_NUMBER: _ClassVar[int]
    ROWS_PER_S_BOUND_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    calls: int
    mean_ms: float
    p99_ms: float
    rows_per_s: float
    rows_per_s_bound: float
    def __init__(self, batch_size: _Optional[int] = ..., calls: _Optional[int] = ..., mean_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., rows_per_s: _Optional[float] = ..., rows_per_s_bound: _Optional[float] = ...) -> None: ...

class RightsizeMeasurement(_message.Message):
    __slots__ = ("hardware_class", "variant", "execution_provider", "shadow_run_id", "safe", "unsafe_reason", "note", "priced", "batch_curve")
    HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SHADOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SAFE_FIELD_NUMBER: _ClassVar[int]
    UNSAFE_REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    PRICED_FIELD_NUMBER: _ClassVar[int]
    BATCH_CURVE_FIELD_NUMBER: _ClassVar[int]
    hardware_class: str
    variant: str
    execution_provider: str
    shadow_run_id: str
    safe: bool
    unsafe_reason: str
    note: str
    priced: bool
    batch_curve: _containers.RepeatedCompositeFieldContainer[RightsizeServicePoint]
    def __init__(self, hardware_class: _Optional[str] = ..., variant: _Optional[str] = ..., execution_provider: _Optional[str] = ..., shadow_run_id: _Optional[str] = ..., safe: _Optional[bool] = ..., unsafe_reason: _Optional[str] = ..., note: _Optional[str] = ..., priced: _Optional[bool] = ..., batch_curve: _Optional[_Iterable[_Union[RightsizeServicePoint, _Mapping]]] = ...) -> None: ...

class RightsizeOption(_message.Message):
    __slots__ = ("name", "hardware_class", "variant", "execution_provider", "shadow_run_id", "max_batch_size", "batching_delay_ms", "replicas", "replicas_bound", "usd_per_hour", "usd_per_month", "usd_per_month_bound", "mean_batch_at_peak", "utilisation_at_peak", "latency_at_peak_ms", "latency_at_max_ms", "spot", "interruption_risk", "assumption", "bound")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SHADOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCHING_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_BOUND_FIELD_NUMBER: _ClassVar[int]
    USD_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    USD_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    USD_PER_MONTH_BOUND_FIELD_NUMBER: _ClassVar[int]
    MEAN_BATCH_AT_PEAK_FIELD_NUMBER: _ClassVar[int]
    UTILISATION_AT_PEAK_FIELD_NUMBER: _ClassVar[int]
    LATENCY_AT_PEAK_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_AT_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    SPOT_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTION_RISK_FIELD_NUMBER: _ClassVar[int]
    ASSUMPTION_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    name: str
    hardware_class: str
    variant: str
    execution_provider: str
    shadow_run_id: str
    max_batch_size: int
    batching_delay_ms: float
    replicas: int
    replicas_bound: int
    usd_per_hour: float
    usd_per_month: float
    usd_per_month_bound: float
    mean_batch_at_peak: float
    utilisation_at_peak: float
    latency_at_peak_ms: float
    latency_at_max_ms: float
    spot: bool
    interruption_risk: str
    assumption: str
    bound: str
    def __init__(self, name: _Optional[str] = ..., hardware_class: _Optional[str] = ..., variant: _Optional[str] = ..., execution_provider: _Optional[str] = ..., shadow_run_id: _Optional[str] = ..., max_batch_size: _Optional[int] = ..., batching_delay_ms: _Optional[float] = ..., replicas: _Optional[int] = ..., replicas_bound: _Optional[int] = ..., usd_per_hour: _Optional[float] = ..., usd_per_month: _Optional[float] = ..., usd_per_month_bound: _Optional[float] = ..., mean_batch_at_peak: _Optional[float] = ..., utilisation_at_peak: _Optional[float] = ..., latency_at_peak_ms: _Optional[float] = ..., latency_at_max_ms: _Optional[float] = ..., spot: _Optional[bool] = ..., interruption_risk: _Optional[str] = ..., assumption: _Optional[str] = ..., bound: _Optional[str] = ...) -> None: ...

class RightsizeToday(_message.Message):
    __slots__ = ("hardware_class", "replicas", "replicas_source", "needed_replicas", "usd_per_hour", "usd_per_month", "latency_at_peak_ms")
    HARDWARE_CLASS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    NEEDED_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    USD_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    USD_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    LATENCY_AT_PEAK_MS_FIELD_NUMBER: _ClassVar[int]
    hardware_class: str
    replicas: int
    replicas_source: str
    needed_replicas: int
    usd_per_hour: float
    usd_per_month: float
    latency_at_peak_ms: float
    def __init__(self, hardware_class: _Optional[str] = ..., replicas: _Optional[int] = ..., replicas_source: _Optional[str] = ..., needed_replicas: _Optional[int] = ..., usd_per_hour: _Optional[float] = ..., usd_per_month: _Optional[float] = ..., latency_at_peak_ms: _Optional[float] = ...) -> None: ...

class RightsizeAnswer(_message.Message):
    __slots__ = ("decision", "option", "saving_usd_per_month", "saving_bound_usd_per_month", "text")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    SAVING_BOUND_USD_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    decision: RightsizeDecision
    option: str
    saving_usd_per_month: float
    saving_bound_usd_per_month: float
    text: str
    def __init__(self, decision: _Optional[_Union[RightsizeDecision, str]] = ..., option: _Optional[str] = ..., saving_usd_per_month: _Optional[float] = ..., saving_bound_usd_per_month: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class RightsizeHourPlan(_message.Message):
    __slots__ = ("hour", "peak_rps", "replicas")
    HOUR_FIELD_NUMBER: _ClassVar[int]
    PEAK_RPS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    hour: str
    peak_rps: float
    replicas: int
    def __init__(self, hour: _Optional[str] = ..., peak_rps: _Optional[float] = ..., replicas: _Optional[int] = ...) -> None: ...

class RightsizeAutoscaling(_message.Message):
    __slots__ = ("option", "shape", "fixed_replicas", "mean_replicas", "usd_per_month_fixed", "usd_per_month_autoscaled", "saving_usd_per_month", "hours")
    OPTION_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    FIXED_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MEAN_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    USD_PER_MONTH_FIXED_FIELD_NUMBER: _ClassVar[int]
    USD_PER_MONTH_AUTOSCALED_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    option: str
    shape: str
    fixed_replicas: int
    mean_replicas: float
    usd_per_month_fixed: float
    usd_per_month_autoscaled: float
    saving_usd_per_month: float
    hours: _containers.RepeatedCompositeFieldContainer[RightsizeHourPlan]
    def __init__(self, option: _Optional[str] = ..., shape: _Optional[str] = ..., fixed_replicas: _Optional[int] = ..., mean_replicas: _Optional[float] = ..., usd_per_month_fixed: _Optional[float] = ..., usd_per_month_autoscaled: _Optional[float] = ..., saving_usd_per_month: _Optional[float] = ..., hours: _Optional[_Iterable[_Union[RightsizeHourPlan, _Mapping]]] = ...) -> None: ...

class RightsizeReport(_message.Message):
    __slots__ = ("model", "generated_at", "slo_latency_threshold_ms", "slo_quantile", "headroom", "margin", "queueing_model", "demand", "supply", "unpriced_hardware_classes", "options", "today", "answer", "autoscaling", "measure_next", "text")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    SLO_LATENCY_THRESHOLD_MS_FIELD_NUMBER: _ClassVar[int]
    SLO_QUANTILE_FIELD_NUMBER: _ClassVar[int]
    HEADROOM_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    QUEUEING_MODEL_FIELD_NUMBER: _ClassVar[int]
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_HARDWARE_CLASSES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    AUTOSCALING_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NEXT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    generated_at: _timestamp_pb2.Timestamp
    slo_latency_threshold_ms: float
    slo_quantile: float
    headroom: float
    margin: float
    queueing_model: str
    demand: RightsizeDemand
    supply: _containers.RepeatedCompositeFieldContainer[RightsizeMeasurement]
    unpriced_hardware_classes: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.RepeatedCompositeFieldContainer[RightsizeOption]
    today: RightsizeToday
    answer: RightsizeAnswer
    autoscaling: RightsizeAutoscaling
    measure_next: _containers.RepeatedScalarFieldContainer[str]
    text: str
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slo_latency_threshold_ms: _Optional[float] = ..., slo_quantile: _Optional[float] = ..., headroom: _Optional[float] = ..., margin: _Optional[float] = ..., queueing_model: _Optional[str] = ..., demand: _Optional[_Union[RightsizeDemand, _Mapping]] = ..., supply: _Optional[_Iterable[_Union[RightsizeMeasurement, _Mapping]]] = ..., unpriced_hardware_classes: _Optional[_Iterable[str]] = ..., options: _Optional[_Iterable[_Union[RightsizeOption, _Mapping]]] = ..., today: _Optional[_Union[RightsizeToday, _Mapping]] = ..., answer: _Optional[_Union[RightsizeAnswer, _Mapping]] = ..., autoscaling: _Optional[_Union[RightsizeAutoscaling, _Mapping]] = ..., measure_next: _Optional[_Iterable[str]] = ..., text: _Optional[str] = ...) -> None: ...
