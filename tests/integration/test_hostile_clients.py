"""What hostile or careless clients sent to the real service, each once a way to stop it, now a test."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import make_url

from collector.cli.commands import main
from collector.core.config import AuthConfig, CollectorConfig, Config
from collector.core.errors import InferwatchError
from collector.ingest.spool import Spool
from collector.ingest.writer import encode_batch
from tests.collector.test_writer import span as span_record
from tests.collector.writer_harness import scalar
from tests.integration.http_helpers import http_get, http_json
from tests.integration.ingest_helpers import TRACE_EXPORT, count_rows, raw_call
from tests.integration.service_harness import RunningService, loopback_config

FLUSH_TIMEOUT_S = 60.0


class _ExitOnLoad:
    """A spool record that kills whatever process reads it: a stand-in for data that crashes the writer."""

    def __reduce__(self) -> tuple[Callable[[int], object], tuple[int]]:
        return (os._exit, (3,))


def flushed(service: RunningService) -> None:
    """Wait until everything the service acknowledged is committed."""
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(FLUSH_TIMEOUT_S), "batch writer did not drain the spool in time"


def inference_span(number: int, **attributes: AnyValue) -> Span:
    """A valid inference span with extra attributes."""
    span = Span(
        trace_id=(number + 1).to_bytes(16, "big"),
        span_id=(number + 1).to_bytes(8, "big"),
        name="predict",
        start_time_unix_nano=1_700_000_000_000_000_000 + number,
        end_time_unix_nano=1_700_000_000_010_000_000 + number,
    )
    span.attributes.append(KeyValue(key="ml.model.name", value=AnyValue(string_value="fraud")))
    for key, value in attributes.items():
        span.attributes.append(KeyValue(key=key.replace("__", "."), value=value))
    return span


def export(service: RunningService, spans: list[Span]) -> ExportTraceServiceResponse:
    """One raw OTLP/gRPC export of ``spans``."""
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    with grpc.insecure_channel(service.grpc_target) as channel:
        raw = raw_call(channel, TRACE_EXPORT)(request.SerializeToString(), timeout=10)
    return ExportTraceServiceResponse.FromString(raw)


def test_a_writer_crash_loop_is_not_ready_and_the_record_behind_it_is_set_aside(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """A spool record that kills the writer makes /readyz 503 with the reason, then is dead-lettered; the rest
    is stored."""
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, max_bytes=1 << 20).open()
    spool.append(pickle.dumps(_ExitOnLoad()))
    spool.append(encode_batch("spans", [span_record(1)]))
    spool.close()
    service = start_service(loopback_config(db_url, spool_dir))
    seen_not_ready: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and count_rows(db_url, "spans") == 0:
        status, body = http_json(service.http_base + "/readyz")
        if status == 503:
            seen_not_ready.append(body["checks"]["writer"])
        time.sleep(0.1)
    assert count_rows(db_url, "spans") == 1
    assert seen_not_ready, "/readyz never said the writer was in a crash loop"
    assert "died 3 times" in seen_not_ready[0]
    assert scalar(db_url, "SELECT kind FROM dead_letters") == "spool"
    assert "died 3 times in a row" in scalar(db_url, "SELECT reason FROM dead_letters")
    status, _ = http_json(service.http_base + "/readyz")
    assert status == 200


def test_values_past_the_columns_are_stored_cut_to_fit(running_service: RunningService) -> None:
    """Long labels and huge token counts are acknowledged, stored cut to their columns, and counted."""
    db_url = running_service.config.storage.db_url
    spans = [
        inference_span(
            0,
            ml__model__version=AnyValue(string_value="v" * 200),
            gen_ai__system=AnyValue(string_value="s" * 200),
            ml__hardware__class=AnyValue(string_value="h" * 100),
            gen_ai__usage__input_tokens=AnyValue(int_value=2**63 - 1),
            gen_ai__usage__output_tokens=AnyValue(int_value=2**31),
        ),
        inference_span(1, gen_ai__usage__input_tokens=AnyValue(double_value=1e300)),
        inference_span(2, gen_ai__usage__input_tokens=AnyValue(string_value="9" * 40)),
        inference_span(3, gen_ai__usage__input_tokens=AnyValue(string_value="²")),
    ]
    response = export(running_service, spans)
    assert response.partial_success.rejected_spans == 0
    flushed(running_service)
    assert count_rows(db_url, "spans") == 4
    assert count_rows(db_url, "dead_letters") == 0
    assert (
        scalar(db_url, "SELECT model_version FROM spans WHERE input_tokens = 2147483647 AND provider IS NOT NULL")
        == "v" * 128
    )
    assert running_service.service is not None
    clamped = running_service.service.metrics.registry.get_sample_value(
        "inferwatch_ingest_values_clamped_total", {"signal": "spans"}
    )
    assert clamped == 7  # version, system, hardware, two token counts, 1e300, 9 * 40


def test_a_time_past_2262_rejects_that_span_only(running_service: RunningService) -> None:
    """Start times past what a BIGINT holds are rejected by item; the good span beside them is stored."""
    db_url = running_service.config.storage.db_url
    past = inference_span(1)
    past.start_time_unix_nano = past.end_time_unix_nano = 16725225600 * 10**9
    top = inference_span(2)
    top.start_time_unix_nano = top.end_time_unix_nano = 2**64 - 1
    response = export(running_service, [inference_span(0), past, top])
    assert response.partial_success.rejected_spans == 2
    assert "past 2262" in response.partial_success.error_message
    flushed(running_service)
    assert count_rows(db_url, "spans") == 1
    assert count_rows(db_url, "dead_letters") == 0


def test_unknown_methods_share_one_metrics_label(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Calls to made-up method names, answered UNAUTHENTICATED, never give a caller a label of its own."""
    config = loopback_config(db_url, tmp_path / "spool")
    service = start_service(replace(config, auth=AuthConfig(ingest_tokens=("ingest-secret",))))
    with grpc.insecure_channel(service.grpc_target) as channel:
        for number in range(50):
            call = raw_call(channel, f"/evil.Service/Method{number}")
            with pytest.raises(grpc.RpcError) as refused:
                call(b"", timeout=10)
            assert refused.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED)
    _, body, _ = http_get(service.http_base + "/metrics")
    assert "Method1" not in body
    assert 'method="other"' in body


def test_the_json_api_takes_the_same_tokens_as_grpc_and_refuses_bad_ids(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With tokens configured, /api/v1/findings/{id} needs one; ids that are no id are 400 or 404, never 500."""
    config = loopback_config(db_url, tmp_path / "spool")
    service = start_service(
        replace(config, auth=AuthConfig(ingest_tokens=("ingest-secret",), admin_tokens=("admin-secret",)))
    )
    url = service.http_base + "/api/v1/findings/"
    assert http_json(url + "1")[0] == 401
    assert http_json(url + "1", {"Authorization": "Bearer wrong"})[0] == 401
    for token in ("ingest-secret", "admin-secret"):
        assert http_json(url + "1", {"Authorization": f"Bearer {token}"})[0] == 404
    headers = {"Authorization": "Bearer ingest-secret"}
    assert http_json(url + "99999999999999999999999999", headers)[0] == 404
    assert http_json(url + "%C2%B2", headers)[0] == 400
    assert http_json(url + "-1", headers)[0] == 400


@pytest.mark.postgres
def test_the_database_password_stays_out_of_argv(
    fresh_postgres_url: Callable[[], str], tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """The writer process gets the database URL through its environment: `ps` never shows the password."""
    url = make_url(fresh_postgres_url()).set(password="hunter2-secret").render_as_string(hide_password=False)
    service = start_service(loopback_config(url, tmp_path / "spool"))
    assert service.service is not None
    assert service.service.writer is not None
    process = service.service.writer._process  # the child's pid, to read its command line as ps does
    assert process is not None
    command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    assert b"collector.ingest.writer" in command_line
    assert b"hunter2" not in command_line


def test_config_show_hides_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    """`inferwatch config show` prints the database URL without its password, as text and as JSON."""
    url = "postgresql+psycopg://inferwatch:hunter2-secret@db.internal/inferwatch"
    assert main(["config", "show", "--db-url", url]) == 0
    assert main(["config", "show", "--db-url", url, "--json"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "inferwatch:***@db.internal" in out


def test_a_second_serve_on_one_sqlite_file_refuses_to_start(
    tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Two services on one SQLite file would both run detectors and alert twice: the second one says so."""
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    start_service(loopback_config(db_url, tmp_path / "spool-a"))
    with pytest.raises(InferwatchError, match="already using the SQLite database"):
        start_service(loopback_config(db_url, tmp_path / "spool-b"))


def test_unique_model_names_past_the_limit_are_stored_as_other(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """A client inventing a model name per span grows nothing past collector.max_models."""
    collector = CollectorConfig(max_models=5)
    service = start_service(loopback_config(db_url, tmp_path / "spool", collector=collector))
    spans = [inference_span(number) for number in range(50)]
    for number, span in enumerate(spans):
        span.attributes[0].value.string_value = f"made-up-{number}"
    assert export(service, spans).partial_success.rejected_spans == 0
    flushed(service)
    assert scalar(db_url, "SELECT COUNT(DISTINCT model_name) FROM spans") == 6
    assert scalar(db_url, "SELECT COUNT(*) FROM spans WHERE model_name = 'other'") == 45
    assert service.service is not None
    overflow = service.service.metrics.registry.get_sample_value(
        "inferwatch_ingest_cardinality_overflow_total", {"dimension": "model"}
    )
    assert overflow == 45
