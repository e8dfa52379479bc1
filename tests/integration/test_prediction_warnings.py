"""Per-item warnings: text for a feature the drift reference holds as numeric, and outcomes for unknown
prediction ids, are stored, counted on /metrics and (where the answer can know) warned about per item."""

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

from collector.core.config import Config
from collector.core.storage.engine import create_engine_for
from detectors.drift.store import fit_from_file, save_reference
from inferwatch.v1 import common_pb2, prediction_service_pb2
from tests.integration.http_helpers import http_get
from tests.integration.ingest_helpers import prediction_stub, raw_call
from tests.integration.service_harness import RunningService, loopback_config

LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def metric(service: RunningService, name: str) -> float:
    """One unlabelled sample of /metrics, read over HTTP as Prometheus would."""
    status, body, _ = http_get(service.http_base + "/metrics")
    assert status == 200
    values = [line.split()[-1] for line in body.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} is not on /metrics"
    return float(values[0])


@pytest.fixture
def service(migrated_db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A service whose database holds a drift reference of fraud version 7: amount numeric, country text."""
    training = tmp_path / "training.csv"
    training.write_text(
        "amount,country\n" + "".join(f"{10 + n * 0.37:.2f},{'DE' if n % 3 else 'FR'}\n" for n in range(300))
    )
    engine = create_engine_for(migrated_db_url)
    try:
        save_reference(engine, "fraud", "7", fit_from_file(training))
    finally:
        engine.dispose()
    running = start_service(loopback_config(migrated_db_url, tmp_path / "spool"))
    assert running.service is not None
    assert running.service.feature_schema is not None
    assert running.service.feature_schema.first_pass_done.wait(30)
    return running


def prediction(identifier: str, model: str, version: str, amount: float | str) -> prediction_service_pb2.Prediction:
    """A native prediction with an amount (number, or text when given a string) and a country."""
    item = prediction_service_pb2.Prediction(
        prediction_id=identifier, model=common_pb2.ModelRef(name=model, version=version)
    )
    if isinstance(amount, str):
        item.features["amount"].category = amount
    else:
        item.features["amount"].number = amount
    item.features["country"].category = "DE"
    item.output.label = "ok"
    return item


def test_text_for_a_numeric_feature_is_a_warning_in_the_native_answer(service: RunningService) -> None:
    """The item is stored; the answer names its index and field; the counter on /metrics moves."""
    request = prediction_service_pb2.LogPredictionsRequest(
        predictions=[
            prediction("w-0", "fraud", "7", 12.5),
            prediction("w-1", "fraud", "7", "12.5"),
            prediction("w-2", "fraud", "8", "n/a"),  # a version without its own reference: the model's others
            prediction("w-3", "other", "1", "12.5"),  # no reference: nothing to say
        ]
    )
    with grpc.insecure_channel(service.grpc_target) as channel:
        answer = prediction_stub(channel).LogPredictions(request, timeout=10)
    assert answer.accepted == 4
    assert answer.rejected == 0
    assert [(w.index, w.field) for w in answer.warnings] == [(1, "features.amount"), (2, "features.amount")]
    assert "numeric in the drift reference of 'fraud'" in answer.warnings[0].message
    assert "'12.5'" in answer.warnings[0].message
    assert metric(service, "inferwatch_ingest_text_in_numeric_features_total") == 2.0


def test_text_for_a_numeric_feature_is_a_warning_in_the_otlp_answer(service: RunningService) -> None:
    """An ml.prediction event is fully accepted; partial_success carries the warning with 0 rejected."""
    body = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key="prediction_id", value=AnyValue(string_value="otlp-1")),
                KeyValue(key="model", value=AnyValue(string_value="fraud")),
                KeyValue(key="version", value=AnyValue(string_value="7")),
                KeyValue(
                    key="features",
                    value=AnyValue(
                        kvlist_value=KeyValueList(values=[KeyValue(key="amount", value=AnyValue(string_value="9,99"))])
                    ),
                ),
            ]
        )
    )
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord(event_name="ml.prediction", body=body)])])
        ]
    )
    with grpc.insecure_channel(service.grpc_target) as channel:
        raw = raw_call(channel, LOGS_EXPORT)(request.SerializeToString(), timeout=10)
    answer = ExportLogsServiceResponse.FromString(raw)
    assert answer.partial_success.rejected_log_records == 0
    assert "item 0: features.amount: is numeric in the drift reference" in answer.partial_success.error_message
    assert metric(service, "inferwatch_ingest_text_in_numeric_features_total") == 1.0


def test_an_outcome_for_an_unknown_prediction_is_stored_and_counted(service: RunningService) -> None:
    """Whether the id is known is decided when the outcome is written; the counter on /metrics says so."""
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = prediction_stub(channel)
        stub.LogPredictions(
            prediction_service_pb2.LogPredictionsRequest(predictions=[prediction("known", "fraud", "7", 3.0)]),
            timeout=10,
        )
        assert service.service is not None
        assert service.service.writer is not None
        assert service.service.writer.flush(60)
        answer = stub.LogOutcomes(
            prediction_service_pb2.LogOutcomesRequest(
                outcomes=[
                    prediction_service_pb2.Outcome(prediction_id="known", actual=common_pb2.Output(label="ok")),
                    prediction_service_pb2.Outcome(prediction_id="typo-id", actual=common_pb2.Output(label="ok")),
                ]
            ),
            timeout=10,
        )
    assert answer.accepted == 2
    assert service.service.writer.flush(60)
    deadline = time.monotonic() + 10
    while metric(service, "inferwatch_outcomes_without_prediction_total") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the writer process reports its counts after the commit
    assert metric(service, "inferwatch_outcomes_without_prediction_total") == 1.0
