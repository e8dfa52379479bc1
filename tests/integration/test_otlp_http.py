"""OTLP over HTTP with real clients: the Python SDK's HTTP exporters, and hand-written protobuf and JSON bodies."""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collector.core.config import AuthConfig, CollectorConfig, Config, ServerConfig
from collector.service.protocol_log import install_wrong_protocol_filter
from tests.integration.ingest_helpers import count_rows, database_write_lock
from tests.integration.js_client import export_spans_with_js
from tests.integration.service_harness import RunningService, loopback_config

FLUSH_TIMEOUT_S = 60.0

# The README's curl example: one inference span in OTLP JSON.
README_SPAN_JSON = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "scorer"}}]},
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "predict",
                            "kind": 2,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000000012000000",
                            "attributes": [
                                {"key": "ml.model.name", "value": {"stringValue": "fraud"}},
                                {"key": "ml.model.version", "value": {"stringValue": "7"}},
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                            ],
                            "status": {"code": 1},
                            "someFieldFromTheFuture": {"ignored": True},
                        }
                    ]
                }
            ],
        }
    ]
}


def flushed(service: RunningService) -> None:
    """Wait until everything the service acknowledged is committed."""
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(FLUSH_TIMEOUT_S), "batch writer did not drain the spool in time"


def post(
    url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """POST a body; return status, body and headers without raising on 4xx and 5xx."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def export_spans_over_http(endpoint: str, count: int, *, compression: Compression = Compression.NoCompression) -> bool:
    """Create ``count`` inference spans with the real SDK and export them with its OTLP/HTTP exporter."""
    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces", compression=compression, timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "scorer", "ml.hardware.class": "cpu"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=256, max_queue_size=max(count, 2048))
    )
    tracer = provider.get_tracer("tests")
    for number in range(count):
        with tracer.start_as_current_span("predict") as span:
            span.set_attribute("ml.model.name", "fraud")
            span.set_attribute("request.number", number)
    flushed_ok = provider.force_flush(timeout_millis=120_000)
    provider.shutdown()
    return flushed_ok


def test_python_sdk_http_exporter_stores_every_span(running_service: RunningService) -> None:
    """The Python SDK's http/protobuf exporter, plain and gzip: exactly N spans stored."""
    db_url = running_service.config.storage.db_url
    assert export_spans_over_http(running_service.otlp_http_base, 300)
    assert export_spans_over_http(running_service.otlp_http_base, 200, compression=Compression.Gzip)
    flushed(running_service)
    assert count_rows(db_url, "spans") == 500


def test_python_sdk_http_log_exporter_stores_predictions(running_service: RunningService) -> None:
    """ml.prediction events over OTLP/HTTP logs become predictions."""
    exporter = OTLPLogExporter(endpoint=running_service.otlp_http_base + "/v1/logs", timeout=30)
    provider = LoggerProvider(resource=Resource.create({"ml.model.name": "fraud", "ml.model.version": "1"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("tests")
    for number in range(50):
        logger.emit(
            event_name="ml.prediction",
            body={"prediction_id": f"http-{number}", "features": {"amount": float(number)}, "output": {"label": "ok"}},
        )
    assert provider.force_flush(timeout_millis=60_000)
    provider.shutdown()
    flushed(running_service)
    assert count_rows(running_service.config.storage.db_url, "predictions") == 50


def test_the_readme_json_body_is_stored_and_answered_in_json(running_service: RunningService) -> None:
    """A hand-written OTLP JSON body (hex ids, integer enums, string int64s, an unknown field) is stored; the
    answer is JSON too, and sending it again stores nothing twice."""
    url = running_service.otlp_http_base + "/v1/traces"
    body = json.dumps(README_SPAN_JSON).encode()
    for _ in range(2):
        status, answer, headers = post(url, body, "application/json")
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(answer) == {}
    flushed(running_service)
    db_url = running_service.config.storage.db_url
    assert count_rows(db_url, "spans", "WHERE model_name = 'fraud' AND model_version = '7' AND input_tokens = 42") == 1


def test_partial_success_names_the_bad_span(running_service: RunningService) -> None:
    """A request with one bad span is 200 with partial_success, in the request's encoding."""
    spans = README_SPAN_JSON["resourceSpans"][0]["scopeSpans"][0]["spans"]  # type: ignore[index]
    bad = {**spans[0], "spanId": "", "traceId": "0af7651916cd43dd8448eb211c80319c"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [spans[0], bad]}]}]}
    status, answer, _ = post(
        running_service.otlp_http_base + "/v1/traces", json.dumps(document).encode(), "application/json"
    )
    assert status == 200
    assert json.loads(answer)["partialSuccess"]["rejectedSpans"] == "1"
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="no ids")
    status, answer, headers = post(
        running_service.otlp_http_base + "/v1/traces", request.SerializeToString(), "application/x-protobuf"
    )
    assert status == 400
    assert headers["Content-Type"] == "application/x-protobuf"
    assert status_pb2.Status.FromString(answer).code == code_pb2.INVALID_ARGUMENT


def test_bad_bodies_get_the_answers_the_specification_names(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Malformed JSON and protobuf and bad hex ids are 400, other content types 415, oversized and gzip-bomb
    bodies 413, an empty request 200; a valid span sent after all that is stored."""
    config = loopback_config(db_url, tmp_path / "spool")
    service = start_service(replace(config, server=replace(config.server, max_message_bytes=1 << 20)))
    url = service.otlp_http_base + "/v1/traces"
    assert post(url, b"{not json", "application/json")[0] == 400
    assert post(url, b"\xff\xff\xff", "application/x-protobuf")[0] == 400
    assert post(url, b"[1, 2]", "application/json")[0] == 400
    bad_hex = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]})
    status, answer, _ = post(url, bad_hex.encode(), "application/json")
    assert status == 400
    assert "traceId must be a hex string" in json.loads(answer)["message"]
    assert post(url, b"{}", "text/plain")[0] == 415
    assert post(url, b"x" * (2 << 20), "application/x-protobuf")[0] == 413
    bomb = gzip.compress(b"\x00" * (64 << 20))
    assert len(bomb) < 1 << 20
    assert post(url, bomb, "application/x-protobuf", {"Content-Encoding": "gzip"})[0] == 413
    assert post(url, b"", "application/x-protobuf")[0] == 200
    assert post(url, b"{}", "application/json")[0] == 200
    metrics_status, _, _ = post(service.otlp_http_base + "/v1/metrics", b"", "application/x-protobuf")
    assert metrics_status == 200
    assert post(url, json.dumps(README_SPAN_JSON).encode(), "application/json")[0] == 200
    flushed(service)
    assert count_rows(db_url, "spans") == 1


def test_tokens_are_checked_like_grpc(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With tokens configured, no token is 401 and an ingest token is enough."""
    config = loopback_config(db_url, tmp_path / "spool")
    service = start_service(replace(config, auth=AuthConfig(ingest_tokens=("ingest-secret",))))
    url = service.otlp_http_base + "/v1/traces"
    body = json.dumps(README_SPAN_JSON).encode()
    assert post(url, body, "application/json")[0] == 401
    assert post(url, body, "application/json", {"Authorization": "Bearer wrong"})[0] == 401
    assert post(url, body, "application/json", {"Authorization": "Bearer ingest-secret"})[0] == 200


def test_a_full_spool_is_503_with_retry_after_and_the_sdk_retries_through_it(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """While the database is stalled and the spool fills, the SDK gets 503 with Retry-After, retries, and
    every span is stored once the stall ends."""
    collector = CollectorConfig(spool_max_bytes=64 * 1024, retry_after_s=1.0)
    service = start_service(loopback_config(db_url, tmp_path / "spool", collector=collector))
    assert service.service is not None
    registry = service.service.metrics.registry

    def refusals() -> float:
        return registry.get_sample_value("inferwatch_ingest_refusals_total", {"signal": "spans"}) or 0.0

    result: list[bool] = []
    with database_write_lock(db_url):
        exporter = threading.Thread(target=lambda: result.append(export_spans_over_http(service.otlp_http_base, 1500)))
        exporter.start()
        deadline = time.monotonic() + 60
        while refusals() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    exporter.join(180)
    assert refusals() >= 1, "the stall never filled the spool"
    assert result == [True]
    flushed(service)
    assert count_rows(db_url, "spans") == 1500


def test_the_default_port_is_4318() -> None:
    """OTLP/HTTP listens where every SDK looks by default."""
    assert ServerConfig().otlp_http_addr == "127.0.0.1:4318"


def test_a_grpc_client_on_the_http_port_gets_one_clear_log_line(
    running_service: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    """A gRPC exporter pointed at the OTLP/HTTP port by mistake: one warning saying so, no traceback per retry."""
    target = running_service.otlp_http_base.removeprefix("http://")
    # The filter is process-wide and remembers peers; another test's service may have met this one.
    install_wrong_protocol_filter().forget()
    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        for _ in range(5):
            with grpc.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                with pytest.raises(grpc.RpcError):
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.05)
    records = [record for record in caplog.records if record.name == "aiohttp.server"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "HTTP/2 without negotiation" in records[0].getMessage()
    assert records[0].exc_info is None


@pytest.mark.parametrize("protocol", ["proto", "json"])
def test_the_javascript_sdk_exporters_store_every_span(running_service: RunningService, protocol: str) -> None:
    """@opentelemetry/exporter-trace-otlp-proto and -otlp-http (JSON), as a Node.js service runs them."""
    done = export_spans_with_js(running_service.otlp_http_base, protocol, 300, f"node-{protocol}")
    assert done.returncode == 0, done.stderr
    flushed(running_service)
    db_url = running_service.config.storage.db_url
    assert count_rows(db_url, "spans", f"WHERE model_name = 'node-{protocol}' AND model_version = 'js'") == 300
    assert count_rows(db_url, "spans", f"WHERE model_name = 'node-{protocol}' AND input_tokens = 299") == 1


def test_the_readme_curl_example_works_as_written(running_service: RunningService) -> None:
    """The README's curl command, run with curl against the OTLP/HTTP port, stores its span."""
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("CI"):
            pytest.fail("curl is required under CI", pytrace=False)
        pytest.skip("curl is not installed")
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    command = re.search(r"^curl -s localhost:4318/v1/traces .*?'\n# \{\}", readme, re.S | re.M)
    assert command is not None, "the README lost its OTLP/HTTP curl example"
    body = re.search(r"-d '(.*)'", command.group(0), re.S)
    assert body is not None
    done = subprocess.run(
        [
            curl,
            "-s",
            running_service.otlp_http_base + "/v1/traces",
            "-H",
            "Content-Type: application/json",
            "-d",
            body.group(1),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "{}")
    flushed(running_service)
    assert count_rows(running_service.config.storage.db_url, "spans", "WHERE model_name = 'fraud'") == 1
