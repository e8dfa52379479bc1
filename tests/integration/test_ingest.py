"""Ingest end to end: the real OpenTelemetry SDK and gRPC clients against the real server and database."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.core.config import AuthConfig, CollectorConfig, Config
from inferwatch.v1 import common_pb2, prediction_service_pb2
from tests.integration.ingest_helpers import (
    LOGS_EXPORT,
    TRACE_EXPORT,
    count_rows,
    database_write_lock,
    export_prediction_events_with_sdk,
    export_spans_with_sdk,
    export_through_stall,
    fetch_json,
    prediction_request,
    prediction_stub,
    raw_call,
)
from tests.integration.service_harness import RunningService, loopback_config, postgres_refusing_connections

FLUSH_TIMEOUT_S = 60.0


def flushed(service: RunningService) -> None:
    """Wait until everything the service acknowledged is committed."""
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(FLUSH_TIMEOUT_S), "batch writer did not drain the spool in time"


def model_span(number: int, *, model: str = "fraud", **fields: object) -> Span:
    """A valid inference span built by hand."""
    values: dict[str, object] = {
        "trace_id": (number + 1).to_bytes(16, "big"),
        "span_id": (number + 1).to_bytes(8, "big"),
        "name": "predict",
        "start_time_unix_nano": 1_000 + number,
        "end_time_unix_nano": 2_000 + number,
    }
    values.update(fields)
    span = Span(**values)  # type: ignore[arg-type]
    attribute = span.attributes.add()
    attribute.key = "ml.model.name"
    attribute.value.string_value = model
    return span


def trace_request(*spans: Span) -> bytes:
    """A serialized export request holding the spans."""
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    ).SerializeToString()


@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
def test_sdk_spans_and_prediction_events_are_stored_exactly_once(running_service: RunningService, gzip: bool) -> None:
    """N spans and N prediction events exported by the stock SDK give exactly N rows each."""
    assert export_spans_with_sdk(running_service.grpc_target, 1500, gzip=gzip)
    assert export_prediction_events_with_sdk(running_service.grpc_target, 700, gzip=gzip)
    flushed(running_service)
    db_url = running_service.config.storage.db_url
    assert count_rows(db_url, "spans", "WHERE model_name = 'fraud' AND hardware_class = 'cpu'") == 1500
    assert count_rows(db_url, "predictions", "WHERE model_name = 'fraud' AND model_version = '1'") == 700


def test_duplicate_exports_are_stored_once(running_service: RunningService) -> None:
    """Retried exports (same trace/span ids, same prediction ids) do not duplicate rows."""
    payload = trace_request(*(model_span(n) for n in range(50)))
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        export = raw_call(channel, TRACE_EXPORT)
        for _ in range(3):
            export(payload, timeout=10)
        stub = prediction_stub(channel)
        for _ in range(3):
            assert stub.LogPredictions(prediction_request(range(40)), timeout=10).accepted == 40
    assert export_prediction_events_with_sdk(running_service.grpc_target, 10, prefix="n")
    flushed(running_service)
    db_url = running_service.config.storage.db_url
    assert count_rows(db_url, "spans") == 50
    assert count_rows(db_url, "predictions") == 40


def test_one_bad_span_is_a_partial_success(running_service: RunningService) -> None:
    """A bad span is counted in partial_success with its reason; the good ones are stored."""
    payload = trace_request(model_span(1), model_span(2, trace_id=b"\x01"), model_span(3))
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        response = ExportTraceServiceResponse.FromString(raw_call(channel, TRACE_EXPORT)(payload, timeout=10))
    assert response.partial_success.rejected_spans == 1
    assert (
        response.partial_success.error_message == "1 spans rejected: item 1: trace_id: must be 16 bytes, not all zero"
    )
    flushed(running_service)
    assert count_rows(running_service.config.storage.db_url, "spans") == 2


def test_a_request_with_nothing_usable_is_invalid_argument(running_service: RunningService) -> None:
    """Only when every item is bad does the whole call fail, with INVALID_ARGUMENT and the reasons."""
    payload = trace_request(model_span(1, span_id=b""), model_span(2, span_id=b""))
    with grpc.insecure_channel(running_service.grpc_target) as channel, pytest.raises(grpc.RpcError) as raised:
        raw_call(channel, TRACE_EXPORT)(payload, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() is not None
    assert raised.value.details().startswith("2 spans rejected: item 0: span_id")


@pytest.mark.parametrize("method", [TRACE_EXPORT, LOGS_EXPORT, "/inferwatch.v1.PredictionService/LogPredictions"])
def test_malformed_protobuf_is_invalid_argument(running_service: RunningService, method: str) -> None:
    """Bytes that are not the request message are INVALID_ARGUMENT naming the message, not INTERNAL."""
    with grpc.insecure_channel(running_service.grpc_target) as channel, pytest.raises(grpc.RpcError) as raised:
        raw_call(channel, method)(b"\xff\xff\xff\xff not protobuf", timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed" in (raised.value.details() or "")


def test_native_api_reports_bad_items_and_keeps_the_rest(running_service: RunningService) -> None:
    """Per-item errors for bad predictions; good ones, NaN features and outcomes are stored."""
    request = prediction_request(["ok-1", "", "ok-2"])
    request.predictions[2].features["f0"].number = float("nan")
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        stub = prediction_stub(channel)
        response = stub.LogPredictions(request, timeout=10)
        outcomes = stub.LogOutcomes(
            prediction_service_pb2.LogOutcomesRequest(
                outcomes=[
                    prediction_service_pb2.Outcome(prediction_id="ok-1", actual=common_pb2.Output(label="fraud")),
                    prediction_service_pb2.Outcome(prediction_id="ok-1", actual=common_pb2.Output(label="ok")),
                ]
            ),
            timeout=10,
        )
    assert (response.accepted, response.rejected, response.non_finite_values) == (2, 1, 1)
    assert [(e.index, e.field, e.message) for e in response.errors] == [(1, "prediction_id", "is required")]
    assert outcomes.accepted == 2
    flushed(running_service)
    db_url = running_service.config.storage.db_url
    assert count_rows(db_url, "predictions", "WHERE non_finite_count = 1") == 1
    assert count_rows(db_url, "outcomes") == 1
    assert fetch_json(db_url, "SELECT actual FROM outcomes WHERE prediction_id = 'ok-1'") == {"label": "ok"}


def test_oversized_request_is_resource_exhausted(
    start_service: Callable[[Config], RunningService], tmp_path: Path
) -> None:
    """A message over max_message_bytes gets RESOURCE_EXHAUSTED saying it is too large."""
    service = start_service(
        loopback_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "spool", max_message_bytes=64 * 1024)
    )
    payload = trace_request(*(model_span(n, name="x" * 500) for n in range(300)))
    assert len(payload) > 64 * 1024
    with grpc.insecure_channel(service.grpc_target) as channel, pytest.raises(grpc.RpcError) as raised:
        raw_call(channel, TRACE_EXPORT)(payload, timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (raised.value.details() or "")


def test_tokens_separate_ingest_from_admin(start_service: Callable[[Config], RunningService], tmp_path: Path) -> None:
    """No token: UNAUTHENTICATED; ingest token: may export, PERMISSION_DENIED on admin; health stays open."""
    base = loopback_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "spool")
    service = start_service(
        Config(
            server=base.server,
            storage=base.storage,
            collector=base.collector,
            auth=AuthConfig(ingest_tokens=("ingest-secret",), admin_tokens=("admin-secret",)),
        )
    )
    payload = trace_request(model_span(1))
    with grpc.insecure_channel(service.grpc_target) as channel:
        export = raw_call(channel, TRACE_EXPORT)
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "Basic ingest-secret"),)):
            with pytest.raises(grpc.RpcError) as raised:
                export(payload, metadata=metadata, timeout=10)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(payload, metadata=(("authorization", "Bearer ingest-secret"),), timeout=10)
        export(payload, metadata=(("authorization", "bearer admin-secret"),), timeout=10)
        admin_only = raw_call(channel, "/inferwatch.v1.ShadowService/StartShadowRun")
        with pytest.raises(grpc.RpcError) as raised:
            admin_only(b"", metadata=(("authorization", "Bearer ingest-secret"),), timeout=10)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert export_spans_with_sdk(service.grpc_target, 10, headers={"authorization": "Bearer ingest-secret"})
    flushed(service)
    assert count_rows(service.config.storage.db_url, "spans") == 11


def test_stalled_database_gives_unavailable_with_retry_info_and_loses_nothing(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With the database stalled the spool fills, clients get UNAVAILABLE + RetryInfo, and all arrives later."""
    service = start_service(
        loopback_config(db_url, tmp_path / "spool", collector=CollectorConfig(spool_max_bytes=16 * 1024))
    )
    payload = trace_request(*(model_span(n) for n in range(100)))
    with database_write_lock(db_url), grpc.insecure_channel(service.grpc_target) as channel:
        export = raw_call(channel, TRACE_EXPORT)
        export(payload, timeout=10)  # the empty spool takes it, and the writer blocks on the lock
        acknowledged = 100
        refusal: grpc.RpcError | None = None
        for batch in range(1, 50):
            try:
                export(trace_request(*(model_span(n) for n in range(batch * 100, batch * 100 + 100))), timeout=10)
            except grpc.RpcError as error:
                refusal = error
                break
            acknowledged += 100
    assert refusal is not None, "a full spool never refused"
    trailers = dict(refusal.trailing_metadata() or ())
    assert refusal.code() == grpc.StatusCode.UNAVAILABLE
    assert "ingest buffer full" in (refusal.details() or "")
    retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry.retry_delay.seconds == 1
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    # The SDK retries on its own once the lock is gone; everything acknowledged and retried arrives.
    assert export_spans_with_sdk(service.grpc_target, 600)
    flushed(service)
    assert count_rows(db_url, "spans") == acknowledged + 600


def test_sdk_retries_through_a_stall_and_stores_exactly_n(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Forced retries: exports refused while the database is stalled are retried by the SDK, none lost or doubled."""
    service = start_service(
        loopback_config(db_url, tmp_path / "spool", collector=CollectorConfig(spool_max_bytes=8 * 1024))
    )
    assert service.service is not None
    export_through_stall(service, db_url, "spans", lambda: export_spans_with_sdk(service.grpc_target, 2048))
    flushed(service)
    assert count_rows(db_url, "spans") == 2048


@pytest.mark.postgres
def test_postgres_going_away_and_coming_back_loses_nothing(
    fresh_postgres_url: Callable[[], str], tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With the database refusing connections, exports are buffered, then refused; all arrive after it returns."""
    db_url = fresh_postgres_url()
    service = start_service(
        loopback_config(db_url, tmp_path / "spool", collector=CollectorConfig(spool_max_bytes=64 * 1024))
    )
    acknowledged = 0
    refusal: grpc.RpcError | None = None
    with postgres_refusing_connections(db_url):
        with grpc.insecure_channel(service.grpc_target) as channel:
            export = raw_call(channel, TRACE_EXPORT)
            for batch in range(200):
                try:
                    export(trace_request(*(model_span(n) for n in range(batch * 50, batch * 50 + 50))), timeout=10)
                except grpc.RpcError as error:
                    refusal = error
                    break
                acknowledged += 50
        assert service.service is not None
        assert service.service.writer is not None
        writer = service.service.writer
        deadline = time.monotonic() + 30
        while writer.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.last_error is not None, "the writer never noticed the database was gone"
    assert refusal is not None
    assert refusal.code() == grpc.StatusCode.UNAVAILABLE
    assert acknowledged > 0
    flushed(service)
    assert count_rows(db_url, "spans") == acknowledged
