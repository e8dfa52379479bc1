"""Outcomes whose prediction id is known nowhere at accept time: stored, counted, and a warning in the answer
(native ``warnings``, OTLP ``partial_success`` with 0 rejected); no warning for a prediction that is stored,
in the same request, or accepted a moment ago and not yet written; accepted as ever while the database is down."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector.core.config import CollectorConfig, Config
from inferwatch.v1 import common_pb2, prediction_service_pb2
from tests.integration.ingest_helpers import (
    LOGS_EXPORT,
    count_rows,
    database_write_lock,
    prediction_request,
    prediction_stub,
    raw_call,
)
from tests.integration.service_harness import RunningService, loopback_config, postgres_refusing_connections

UNKNOWN_AT_ACCEPT = "inferwatch_ingest_outcomes_unknown_prediction_at_accept_total"
UNCHECKED = "inferwatch_ingest_outcome_ids_unchecked_total"
WITHOUT_PREDICTION = "inferwatch_outcomes_without_prediction_total"


def outcomes_request(*prediction_ids: str) -> prediction_service_pb2.LogOutcomesRequest:
    """One labelled outcome per id."""
    return prediction_service_pb2.LogOutcomesRequest(
        outcomes=[
            prediction_service_pb2.Outcome(prediction_id=pid, actual=common_pb2.Output(label="fraud"))
            for pid in prediction_ids
        ]
    )


def counter(service: RunningService, name: str) -> float:
    """An unlabelled counter of the service's registry (what /metrics shows)."""
    assert service.service is not None
    return service.service.metrics.registry.get_sample_value(name) or 0.0


def flush(service: RunningService) -> None:
    """Wait until everything accepted is in the database."""
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(60)


def log_outcomes(service: RunningService, *prediction_ids: str) -> prediction_service_pb2.LogOutcomesResponse:
    """LogOutcomes over loopback gRPC."""
    with grpc.insecure_channel(service.grpc_target) as channel:
        answer: prediction_service_pb2.LogOutcomesResponse = prediction_stub(channel).LogOutcomes(
            outcomes_request(*prediction_ids), timeout=10
        )
    return answer


def log_predictions(service: RunningService, *prediction_ids: str) -> None:
    """LogPredictions over loopback gRPC; every one is accepted."""
    with grpc.insecure_channel(service.grpc_target) as channel:
        answer = prediction_stub(channel).LogPredictions(prediction_request(list(prediction_ids)), timeout=10)
    assert answer.accepted == len(prediction_ids)


def test_an_outcome_for_a_stored_prediction_has_no_warning(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """The id is no longer among the recent ones (capacity 1, pushed out by a later prediction): the answer
    comes from the predictions table."""
    service = start_service(
        loopback_config(db_url, tmp_path / "spool", collector=CollectorConfig(recent_prediction_ids=1))
    )
    log_predictions(service, "stored-1")
    log_predictions(service, "pushes-it-out")
    flush(service)
    answer = log_outcomes(service, "stored-1")
    assert answer.accepted == 1
    assert list(answer.warnings) == []
    assert counter(service, UNKNOWN_AT_ACCEPT) == 0.0


def test_an_outcome_right_after_its_prediction_has_no_warning_before_the_prediction_is_written(
    db_url: str, running_service: RunningService
) -> None:
    """The database holds its write lock: the prediction waits in the spool, and is known from memory."""
    with database_write_lock(db_url):
        log_predictions(running_service, "fresh-1")
        answer = log_outcomes(running_service, "fresh-1")
        assert count_rows(db_url, "predictions") == 0, "the prediction was written: the test proves nothing"
    assert answer.accepted == 1
    assert list(answer.warnings) == []
    flush(running_service)
    assert count_rows(db_url, "outcomes", "WHERE prediction_id = 'fresh-1'") == 1


def test_an_outcome_for_an_unknown_prediction_is_a_warning_naming_it_and_is_stored(
    running_service: RunningService, db_url: str
) -> None:
    """Only the unknown one is warned about, by index, naming the id; both are stored and counted."""
    log_predictions(running_service, "known")
    answer = log_outcomes(running_service, "known", "typo-id", "known")
    assert answer.accepted == 3
    assert [(warning.index, warning.field) for warning in answer.warnings] == [(1, "prediction_id")]
    message = answer.warnings[0].message
    assert "no prediction 'typo-id' is stored or was received recently" in message
    assert "the outcome is stored" in message
    assert counter(running_service, UNKNOWN_AT_ACCEPT) == 1.0
    flush(running_service)
    assert count_rows(db_url, "outcomes") == 2
    deadline = time.monotonic() + 10
    while counter(running_service, WITHOUT_PREDICTION) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the writer process reports its count after the commit
    assert counter(running_service, WITHOUT_PREDICTION) == 1.0


def test_an_outcome_is_not_checked_when_turned_off(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """collector.check_outcome_ids = false: no lookup, no warning, the outcome stored."""
    service = start_service(
        loopback_config(db_url, tmp_path / "spool", collector=CollectorConfig(check_outcome_ids=False))
    )
    answer = log_outcomes(service, "nobody")
    assert answer.accepted == 1
    assert list(answer.warnings) == []
    flush(service)
    assert count_rows(db_url, "outcomes") == 1


def outcome_event(prediction_id: str) -> LogRecord:
    """An ml.outcome log record."""
    body = KeyValueList(
        values=[
            KeyValue(key="prediction_id", value=AnyValue(string_value=prediction_id)),
            KeyValue(
                key="actual",
                value=AnyValue(
                    kvlist_value=KeyValueList(values=[KeyValue(key="label", value=AnyValue(string_value="x"))])
                ),
            ),
        ]
    )
    return LogRecord(event_name="ml.outcome", body=AnyValue(kvlist_value=body))


def prediction_event(prediction_id: str) -> LogRecord:
    """An ml.prediction log record with one feature."""
    features = KeyValueList(values=[KeyValue(key="amount", value=AnyValue(double_value=3.5))])
    body = KeyValueList(
        values=[
            KeyValue(key="prediction_id", value=AnyValue(string_value=prediction_id)),
            KeyValue(key="model", value=AnyValue(string_value="fraud")),
            KeyValue(key="features", value=AnyValue(kvlist_value=features)),
        ]
    )
    return LogRecord(event_name="ml.prediction", body=AnyValue(kvlist_value=body))


def test_an_ml_outcome_event_for_an_unknown_prediction_is_a_warning_in_partial_success(
    running_service: RunningService, db_url: str
) -> None:
    """Nothing rejected; the message names the unknown one's index and id, not the one whose prediction came in
    the same request."""
    records = [prediction_event("same-request"), outcome_event("same-request"), outcome_event("nobody")]
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        raw = raw_call(channel, LOGS_EXPORT)(request.SerializeToString(), timeout=10)
    answer = ExportLogsServiceResponse.FromString(raw)
    assert answer.partial_success.rejected_log_records == 0
    message = answer.partial_success.error_message
    assert message.startswith("1 warning(s), items stored: item 2: prediction_id: no prediction 'nobody'"), message
    assert "item 1" not in message
    assert counter(running_service, UNKNOWN_AT_ACCEPT) == 1.0
    flush(running_service)
    assert count_rows(db_url, "outcomes") == 2


@pytest.mark.postgres
def test_outcomes_are_accepted_while_the_database_refuses_connections(
    fresh_postgres_url: Callable[[], str], tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """No crash and no wait: the recent prediction is known from memory, the other id is said to be unchecked,
    both outcomes are spooled and stored once the database is back."""
    db_url = fresh_postgres_url()
    service = start_service(loopback_config(db_url, tmp_path / "spool"))
    with postgres_refusing_connections(db_url):
        log_predictions(service, "during-outage")
        first = log_outcomes(service, "during-outage", "older-1")
        # Within the pause after a failure the database is not asked again; the answer says so all the same.
        second = log_outcomes(service, "older-2")
    assert first.accepted == 2
    assert [(warning.index, warning.field) for warning in first.warnings] == [(1, "prediction_id")]
    assert first.warnings[0].message.startswith("not checked against stored predictions (the database is unavailable)")
    assert "the outcome is stored" in first.warnings[0].message
    assert second.accepted == 1
    assert [warning.message for warning in second.warnings] == [first.warnings[0].message]
    assert counter(service, UNCHECKED) == 2.0
    assert counter(service, UNKNOWN_AT_ACCEPT) == 0.0
    flush(service)
    assert count_rows(db_url, "outcomes") == 3
