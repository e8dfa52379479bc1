"""Prediction events over OTLP logs: a bad record is a partial success, and SDK retries through a stall lose nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector.core.config import CollectorConfig, Config
from tests.integration.ingest_helpers import (
    LOGS_EXPORT,
    count_rows,
    export_prediction_events_with_sdk,
    export_through_stall,
    raw_call,
)
from tests.integration.service_harness import RunningService, loopback_config


def flushed(service: RunningService) -> None:
    """Wait until everything the service acknowledged is committed."""
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(60), "batch writer did not drain the spool in time"


def prediction_event(body: dict[str, AnyValue]) -> LogRecord:
    """An ml.prediction log record with a map body."""
    values = [KeyValue(key=key, value=value) for key, value in body.items()]
    record = LogRecord(event_name="ml.prediction", body=AnyValue(kvlist_value=KeyValueList(values=values)))
    for key, text in (("ml.model.name", "fraud"), ("ml.model.version", "2")):
        record.attributes.add(key=key, value=AnyValue(string_value=text))
    return record


def good_event(number: int) -> LogRecord:
    """A valid prediction event with one feature and a label."""
    features = KeyValueList(values=[KeyValue(key="amount", value=AnyValue(double_value=float(number)))])
    output = KeyValueList(values=[KeyValue(key="label", value=AnyValue(string_value="ok"))])
    return prediction_event(
        {
            "prediction_id": AnyValue(string_value=f"log-{number}"),
            "features": AnyValue(kvlist_value=features),
            "output": AnyValue(kvlist_value=output),
        }
    )


def test_one_bad_prediction_event_is_a_partial_success(running_service: RunningService) -> None:
    """An event without a prediction id is counted in partial_success with its reason; the others are stored."""
    label = KeyValueList(values=[KeyValue(key="label", value=AnyValue(string_value="ok"))])
    bad = prediction_event({"output": AnyValue(kvlist_value=label)})
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[good_event(1), bad, good_event(2)])])]
    )
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        raw = raw_call(channel, LOGS_EXPORT)(request.SerializeToString(), timeout=10)
    response = ExportLogsServiceResponse.FromString(raw)
    assert response.partial_success.rejected_log_records == 1
    assert response.partial_success.error_message.startswith("1 log records rejected: item 1: prediction_id")
    flushed(running_service)
    assert count_rows(running_service.config.storage.db_url, "predictions", "WHERE model_version = '2'") == 2


def test_sdk_prediction_events_retry_through_a_stall_and_store_exactly_n(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Forced retries on logs: events refused while the database is stalled are retried by the SDK, none lost."""
    service = start_service(
        loopback_config(db_url, tmp_path / "spool", collector=CollectorConfig(spool_max_bytes=8 * 1024))
    )
    assert service.service is not None
    export_through_stall(service, db_url, "logs", lambda: export_prediction_events_with_sdk(service.grpc_target, 1500))
    flushed(service)
    assert count_rows(db_url, "predictions") == 1500
