"""Clients and database probes shared by the ingest integration tests."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
import psycopg
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy import create_engine, make_url, text

from inferwatch.v1 import common_pb2, prediction_service_pb2, prediction_service_pb2_grpc
from tests.integration.service_harness import RunningService

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def count_rows(db_url: str, table: str, where: str = "") -> int:
    """Rows in a table, read through a separate engine as any other reader would."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT COUNT(*) FROM {table} {where}")).scalar_one())
    finally:
        engine.dispose()


def fetch_json(db_url: str, query: str) -> object:
    """The single JSON value a query returns, decoded whether the driver gives text (SQLite) or objects."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            value = connection.execute(text(query)).scalar_one()
    finally:
        engine.dispose()
    return json.loads(value) if isinstance(value, str) else value


def export_spans_with_sdk(
    target: str, count: int, *, gzip: bool = False, headers: dict[str, str] | None = None, model: str = "fraud"
) -> bool:
    """Create ``count`` inference spans with the real SDK and export them over OTLP/gRPC; True on success."""
    exporter = OTLPSpanExporter(
        endpoint=target,
        insecure=True,
        compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
        headers=headers,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "scorer", "ml.hardware.class": "cpu"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=512, max_queue_size=max(count, 2048))
    )
    tracer = provider.get_tracer("tests")
    for number in range(count):
        with tracer.start_as_current_span("predict") as span:
            span.set_attribute("ml.model.name", model)
            span.set_attribute("ml.model.version", "1")
            span.set_attribute("request.number", number)
    flushed = provider.force_flush(timeout_millis=60_000)
    provider.shutdown()
    return flushed


def export_prediction_events_with_sdk(target: str, count: int, *, prefix: str = "p", gzip: bool = False) -> bool:
    """Emit ``count`` ml.prediction log events with the real SDK; True when the export succeeded."""
    exporter = OTLPLogExporter(
        endpoint=target, insecure=True, compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
    )
    provider = LoggerProvider(resource=Resource.create({"ml.model.name": "fraud", "ml.model.version": "1"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_queue_size=max(count, 2048)))
    logger = provider.get_logger("tests")
    for number in range(count):
        logger.emit(
            event_name="ml.prediction",
            body={
                "prediction_id": f"{prefix}-{number}",
                "features": {f"f{i}": float(number + i) for i in range(20)},
                "output": {"label": "fraud" if number % 7 == 0 else "ok"},
            },
        )
    flushed = provider.force_flush(timeout_millis=60_000)
    provider.shutdown()
    return flushed


def prediction_request(ids: range | list[str], *, prefix: str = "n") -> prediction_service_pb2.LogPredictionsRequest:
    """A native LogPredictions request with one prediction per id."""
    predictions = []
    for item in ids:
        prediction = prediction_service_pb2.Prediction(
            prediction_id=item if isinstance(item, str) else f"{prefix}-{item}",
            model=common_pb2.ModelRef(name="fraud", version="1"),
        )
        for i in range(20):
            prediction.features[f"f{i}"].number = float(i)
        prediction.output.label = "ok"
        predictions.append(prediction)
    return prediction_service_pb2.LogPredictionsRequest(predictions=predictions)


def prediction_stub(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    """The generated native client."""
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)  # type: ignore[no-untyped-call]


def raw_call(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable:
    """A unary call that sends and returns raw bytes (for malformed and hand-built requests)."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


@contextmanager
def database_write_lock(db_url: str) -> Iterator[threading.Event]:
    """Hold a lock that stalls every write to the ingest tables until the block exits."""
    released = threading.Event()
    if db_url.startswith("sqlite"):
        path = make_url(db_url).database
        assert path
        lite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        lite.execute("BEGIN EXCLUSIVE")
        try:
            yield released
        finally:
            lite.execute("ROLLBACK")
            lite.close()
            released.set()
        return
    url = make_url(db_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        # EXCLUSIVE, not ACCESS EXCLUSIVE: writes stall, and tests can still count what was stored.
        connection.execute("LOCK TABLE spans, predictions, outcomes IN EXCLUSIVE MODE")
        try:
            yield released
        finally:
            connection.rollback()
            released.set()


def export_through_stall(service: RunningService, db_url: str, signal: str, export: Callable[[], bool]) -> None:
    """Run ``export`` (a real SDK export) while the database is stalled, until the collector refuses at least once;
    then release the stall and check the SDK's retries got everything through."""
    assert service.service is not None
    registry = service.service.metrics.registry

    def refusals() -> float:
        return registry.get_sample_value("inferwatch_ingest_refusals_total", {"signal": signal}) or 0.0

    result: list[bool] = []
    with database_write_lock(db_url):
        exporter = threading.Thread(target=lambda: result.append(export()))
        exporter.start()
        deadline = time.monotonic() + 30
        while refusals() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    exporter.join(120)
    assert refusals() >= 1, "the stall never caused a refusal"
    assert result == [True]
