"""The ingest contract, fuzzed: whatever a decoder accepts, the writer stores, on SQLite and PostgreSQL.

Structure-aware Hypothesis strategies build OTLP and inferwatch.v1 requests with the values hostile clients
send (int64 and uint64 extremes, NaN and infinities, huge and NUL-laden strings, unicode digits, ids of the
wrong length, time at 0 and past 2262); each accepted item must come out of the real spool and writer as a
row, with nothing dead-lettered and the writer still running.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collector.ingest.native_decode import decode_log_outcomes, decode_log_predictions
from collector.ingest.otlp_logs import decode_export_logs_request
from collector.ingest.otlp_traces import SpanDecodeOptions, decode_export_trace_request
from inferwatch.v1 import common_pb2, prediction_service_pb2
from tests.collector.writer_harness import scalar, write_through_spool

UINT64_MAX = 2**64 - 1
INT64_MAX = 2**63 - 1
TIMES = st.one_of(
    st.sampled_from([0, 1, 10**18, INT64_MAX, INT64_MAX + 1, 16725225600 * 10**9, UINT64_MAX]),
    st.integers(0, UINT64_MAX),
)
# Text with what databases choke on: NUL, long runs, and characters of every UTF-8 length.
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "x" * 300, "é" * 200, "\U0001f600" * 150, "²", "9" * 40]),
)
DOUBLES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e300, -1e300, 2.0**63, 2.0**31, -0.0])
)
INT64S = st.one_of(st.integers(-(2**63), INT64_MAX), st.sampled_from([2**31 - 1, 2**31, INT64_MAX, -1]))
TOKEN_VALUES = st.one_of(
    INT64S.map(lambda number: AnyValue(int_value=number)),
    DOUBLES.map(lambda number: AnyValue(double_value=number)),
    HOSTILE_TEXT.map(lambda text: AnyValue(string_value=text)),
    st.sampled_from(["9" * 40, "²", "12", " 7 ", "1" * 5000]).map(lambda text: AnyValue(string_value=text)),
)
IDS_16 = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
IDS_8 = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))
_serial = itertools.count(1)


def attribute(key: str, value: AnyValue) -> KeyValue:
    """One OTLP attribute."""
    return KeyValue(key=key, value=value)


@st.composite
def hostile_spans(draw: st.DrawFn) -> Span:
    """A span whose every field the decoder and the database might disagree on."""
    text_attributes = {
        key: draw(HOSTILE_TEXT)
        for key in ("ml.model.version", "gen_ai.system", "ml.hardware.class", "ml.operation", "error.type")
        if draw(st.booleans())
    }
    span = Span(
        trace_id=draw(IDS_16),
        span_id=draw(IDS_8),
        name=draw(HOSTILE_TEXT),
        kind=draw(st.integers(-(2**31), 2**31 - 1)),  # type: ignore[arg-type]
        start_time_unix_nano=draw(TIMES),
        end_time_unix_nano=draw(TIMES),
        status=Status(code=draw(st.integers(-(2**31), 2**31 - 1))),  # type: ignore[arg-type]
    )
    span.attributes.append(attribute("ml.model.name", AnyValue(string_value=draw(HOSTILE_TEXT) or "m")))
    for key, value in text_attributes.items():
        span.attributes.append(attribute(key, AnyValue(string_value=value)))
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
        if draw(st.booleans()):
            span.attributes.append(attribute(key, draw(TOKEN_VALUES)))
    return span


@st.composite
def hostile_predictions(draw: st.DrawFn) -> prediction_service_pb2.Prediction:
    """A native prediction with extreme ids, times, features, outputs and attributes."""
    prediction = prediction_service_pb2.Prediction(
        prediction_id=f"{next(_serial)}-{draw(HOSTILE_TEXT)}"[:130],
        model=common_pb2.ModelRef(name=draw(HOSTILE_TEXT) or "m", version=draw(HOSTILE_TEXT)),
        time_unix_nano=draw(TIMES),
        latency_ms=draw(DOUBLES),
        trace_id=draw(st.sampled_from([b"", bytes(16), b"\x01" * 16, b"\x01" * 5])),
    )
    for name in draw(st.lists(HOSTILE_TEXT, max_size=4)):
        if draw(st.booleans()):
            prediction.features[name].number = draw(DOUBLES)
        else:
            prediction.features[name].category = draw(HOSTILE_TEXT)
    choice = draw(st.integers(0, 3))
    if choice == 0:
        prediction.output.label = draw(HOSTILE_TEXT)
    elif choice == 1:
        prediction.output.value = draw(DOUBLES)
    elif choice == 2:
        prediction.output.values.values.extend(draw(st.lists(DOUBLES, max_size=3)))
    for key in draw(st.lists(HOSTILE_TEXT, max_size=2)):
        prediction.attributes[key] = draw(HOSTILE_TEXT)
    return prediction


@st.composite
def hostile_outcomes(draw: st.DrawFn) -> prediction_service_pb2.Outcome:
    """A native outcome with extreme ids and times."""
    outcome = prediction_service_pb2.Outcome(
        prediction_id=f"{next(_serial)}-{draw(HOSTILE_TEXT)}"[:130],
        model=common_pb2.ModelRef(name=draw(HOSTILE_TEXT)),
        time_unix_nano=draw(TIMES),
    )
    if draw(st.booleans()):
        outcome.actual.label = draw(HOSTILE_TEXT)
    else:
        outcome.actual.value = draw(DOUBLES)
    return outcome


@st.composite
def hostile_prediction_events(draw: st.DrawFn) -> LogRecord:
    """An ``ml.prediction`` or ``ml.outcome`` log event with an extreme time and body."""
    event = draw(st.sampled_from(["ml.prediction", "ml.outcome"]))
    features = KeyValueList(
        values=[
            attribute(draw(HOSTILE_TEXT), AnyValue(double_value=draw(DOUBLES))) for _ in range(draw(st.integers(0, 3)))
        ]
    )
    body = KeyValueList(
        values=[
            attribute("prediction_id", AnyValue(string_value=f"{next(_serial)}-{draw(HOSTILE_TEXT)}"[:130])),
            attribute("model", AnyValue(string_value=draw(HOSTILE_TEXT) or "m")),
            attribute("version", AnyValue(string_value=draw(HOSTILE_TEXT))),
            attribute("features", AnyValue(kvlist_value=features)),
            attribute(
                "output" if event == "ml.prediction" else "actual",
                AnyValue(kvlist_value=KeyValueList(values=[attribute("label", AnyValue(string_value="x\x00"))])),
            ),
        ]
    )
    return LogRecord(
        event_name=event,
        time_unix_nano=draw(TIMES),
        observed_time_unix_nano=draw(TIMES),
        body=AnyValue(kvlist_value=body),
    )


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def no_dead_letters(db_url: str, reports: list[dict[str, object]]) -> None:
    """The writer stored everything and dead-lettered nothing."""
    assert not [report for report in reports if report.get("dead_lettered")], reports
    assert scalar(db_url, "SELECT COUNT(*) FROM dead_letters") == 0


@FUZZ
@given(spans=st.lists(hostile_spans(), min_size=1, max_size=4))
def test_every_accepted_span_is_stored(migrated_db_url: str, tmp_path_factory: object, spans: list[Span]) -> None:
    """Each span the decoder accepts becomes a row; a rejected one is named; the rest of its request is kept."""
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    decoded = decode_export_trace_request(request, SpanDecodeOptions())
    assert len(decoded.records) + len(decoded.rejections) == len(spans)
    for record in decoded.records:
        assert 0 <= record.start_unix_nano <= record.end_unix_nano <= INT64_MAX
        assert record.input_tokens is None or 0 <= record.input_tokens < 2**31
    spool_dir = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    reports = write_through_spool(migrated_db_url, spool_dir, [("spans", decoded.records)])
    no_dead_letters(migrated_db_url, reports)
    for record in decoded.records:
        stored = scalar(
            migrated_db_url,
            "SELECT COUNT(*) FROM spans WHERE trace_id = :t AND span_id = :s AND start_unix_nano = :start",
            t=record.trace_id,
            s=record.span_id,
            start=record.start_unix_nano,
        )
        assert stored == 1


@FUZZ
@given(predictions=st.lists(hostile_predictions(), min_size=1, max_size=4))
def test_every_accepted_prediction_is_stored(
    migrated_db_url: str, tmp_path_factory: object, predictions: list[prediction_service_pb2.Prediction]
) -> None:
    """Native predictions: accepted ones are stored with finite JSON; rejected ones name their field."""
    decoded = decode_log_predictions(prediction_service_pb2.LogPredictionsRequest(predictions=predictions), 10**18)
    assert len(decoded.records) + len(decoded.rejections) == len(predictions)
    assert all(rejection.field for rejection in decoded.rejections)
    spool_dir = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    reports = write_through_spool(migrated_db_url, spool_dir, [("predictions", decoded.records)])
    no_dead_letters(migrated_db_url, reports)
    for record in decoded.records:
        assert record.ts_unix_nano <= INT64_MAX
        stored = scalar(
            migrated_db_url, "SELECT COUNT(*) FROM predictions WHERE prediction_id = :p", p=record.prediction_id
        )
        assert stored == 1


@FUZZ
@given(outcomes=st.lists(hostile_outcomes(), min_size=1, max_size=4))
def test_every_accepted_outcome_is_stored(
    migrated_db_url: str, tmp_path_factory: object, outcomes: list[prediction_service_pb2.Outcome]
) -> None:
    """Native outcomes: accepted ones are stored; a time past 2262 is rejected by item."""
    decoded = decode_log_outcomes(prediction_service_pb2.LogOutcomesRequest(outcomes=outcomes), 10**18)
    assert len(decoded.records) + len(decoded.rejections) == len(outcomes)
    rejected = {rejection.index for rejection in decoded.rejections}
    assert all(index in rejected for index, outcome in enumerate(outcomes) if outcome.time_unix_nano > INT64_MAX)
    spool_dir = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    reports = write_through_spool(migrated_db_url, spool_dir, [("outcomes", decoded.records)])
    no_dead_letters(migrated_db_url, reports)
    for record in decoded.records:
        stored = scalar(
            migrated_db_url, "SELECT COUNT(*) FROM outcomes WHERE prediction_id = :p", p=record.prediction_id
        )
        assert stored == 1


@FUZZ
@given(events=st.lists(hostile_prediction_events(), min_size=1, max_size=4))
def test_every_accepted_prediction_event_is_stored(
    migrated_db_url: str, tmp_path_factory: object, events: list[LogRecord]
) -> None:
    """OTLP log events carrying predictions and outcomes: the same contract as the native API."""
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=events)])])
    decoded = decode_export_logs_request(request, 10**18)
    assert len(decoded.predictions) + len(decoded.outcomes) + len(decoded.rejections) == len(events)
    spool_dir = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    reports = write_through_spool(
        migrated_db_url, spool_dir, [("predictions", decoded.predictions), ("outcomes", decoded.outcomes)]
    )
    no_dead_letters(migrated_db_url, reports)
    for table, records in (("predictions", decoded.predictions), ("outcomes", decoded.outcomes)):
        for record in records:
            query = f"SELECT COUNT(*) FROM {table} WHERE prediction_id = :p"
            assert scalar(migrated_db_url, query, p=record.prediction_id) == 1


def test_token_strings_that_int_refuses_do_not_fail_the_request() -> None:
    """``"²"`` is a digit to str.isdigit but not to int(): the span is kept without a token count."""
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, start_time_unix_nano=1, end_time_unix_nano=2)
    span.attributes.append(attribute("ml.model.name", AnyValue(string_value="m")))
    span.attributes.append(attribute("gen_ai.usage.input_tokens", AnyValue(string_value="²")))
    span.attributes.append(attribute("gen_ai.usage.output_tokens", AnyValue(string_value="9" * 40)))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    decoded = decode_export_trace_request(request, SpanDecodeOptions())
    (record,) = decoded.records
    assert (record.input_tokens, record.output_tokens) == (None, 2**31 - 1)
    assert decoded.clamped == 1


def test_double_token_counts_are_clamped_not_overflowed() -> None:
    """1e300 tokens as a double is clamped to the column's range and counted."""
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, start_time_unix_nano=1, end_time_unix_nano=2)
    span.attributes.append(attribute("ml.model.name", AnyValue(string_value="m")))
    span.attributes.append(attribute("gen_ai.usage.input_tokens", AnyValue(double_value=1e300)))
    span.attributes.append(attribute("gen_ai.usage.output_tokens", AnyValue(double_value=math.inf)))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    (record,) = decode_export_trace_request(request, SpanDecodeOptions()).records
    assert (record.input_tokens, record.output_tokens) == (2**31 - 1, None)


def test_a_raw_span_over_the_cap_is_not_kept(tmp_path: Path) -> None:
    """A 2 MB model name is cut to its column, and the raw bytes of its span are dropped and counted."""
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, start_time_unix_nano=1, end_time_unix_nano=2)
    span.attributes.append(attribute("ml.model.name", AnyValue(string_value="m" * 2_000_000)))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    decoded = decode_export_trace_request(request, SpanDecodeOptions(max_raw_span_bytes=65536))
    (record,) = decoded.records
    assert record.raw is None
    assert record.model_name == "m" * 256
    assert (decoded.raw_dropped, decoded.clamped) == (1, 1)
