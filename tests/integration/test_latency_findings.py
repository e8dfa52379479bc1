"""Latency detection through the real collector: spans in over OTLP, findings out over gRPC and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.cli.commands import main
from collector.core.config import Config, DetectorsConfig
from inferwatch.v1 import common_pb2, finding_service_pb2, finding_service_pb2_grpc
from tests.integration.ingest_helpers import TRACE_EXPORT, raw_call
from tests.integration.service_harness import RunningService, loopback_config

MINUTE = 60
T0 = 1_763_000_000 // 3600 * 3600  # a whole hour in November 2025
HISTORY_MINUTES = 150
PER_MINUTE = 30


def minute_of_spans(model: str, minute: int, latency_ms: float, rng: np.random.Generator) -> list[Span]:
    """PER_MINUTE inference spans starting in the given minute, around ``latency_ms`` with 5% noise."""
    spans = []
    for n in range(PER_MINUTE):
        start = (T0 + minute * MINUTE + n) * 1_000_000_000
        duration = int(latency_ms * rng.lognormal(0.0, 0.05) * 1e6)
        ident = (hash((model, minute, n)) & (2**63 - 1)) | 1
        span = Span(
            trace_id=ident.to_bytes(16, "big"),
            span_id=ident.to_bytes(8, "big"),
            name="predict",
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
        )
        for key, value in (("ml.model.name", model), ("ml.model.version", "1")):
            attribute = span.attributes.add()
            attribute.key = key
            attribute.value.string_value = value
        spans.append(span)
    return spans


def export(target: str, spans: list[Span]) -> None:
    """Send spans to the collector in OTLP requests of 512."""
    with grpc.insecure_channel(target) as channel:
        call = raw_call(channel, TRACE_EXPORT)
        for first in range(0, len(spans), 512):
            request = ExportTraceServiceRequest(
                resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans[first : first + 512])])]
            )
            call(request.SerializeToString(), timeout=30)


@pytest.fixture
def service(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A service whose own detector loop stays out of the way; the test drives evaluation with its clock."""
    config = replace(loopback_config(db_url, tmp_path / "spool"), detectors=DetectorsConfig(detector_interval_s=3600))
    running = start_service(config)
    assert running.service is not None
    assert running.service.detectors is not None
    # The scheduler's own first pass runs on the wall clock; spans sent while it rolls up would be half-counted.
    assert running.service.detectors.first_pass_done.wait(30)
    return running


def test_step_fires_within_two_intervals_and_spike_never(service: RunningService) -> None:
    """A latency step is flagged at its second interval; a one-minute spike is not; both are listed by gRPC and CLI."""
    rng = np.random.default_rng(42)
    spans: list[Span] = []
    for minute in range(HISTORY_MINUTES):
        spans += minute_of_spans("stepper", minute, 100.0, rng) + minute_of_spans("spiker", minute, 100.0, rng)
    spans += minute_of_spans("stepper", HISTORY_MINUTES, 300.0, rng) + minute_of_spans(
        "stepper", HISTORY_MINUTES + 1, 300.0, rng
    )
    spans += minute_of_spans("spiker", HISTORY_MINUTES, 300.0, rng) + minute_of_spans(
        "spiker", HISTORY_MINUTES + 1, 100.0, rng
    )
    export(service.grpc_target, spans)
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.detectors is not None
    assert service.service.writer.flush(60)

    settle = service.service.detectors.options.rollup.settle_s
    first = service.service.detectors.evaluate_once(now_s=T0 + (HISTORY_MINUTES + 1) * MINUTE + settle)
    second = service.service.detectors.evaluate_once(now_s=T0 + (HISTORY_MINUTES + 2) * MINUTE + settle)
    assert [f.model_name for f in first if f.firing] == []
    assert [(f.model_name, f.subject) for f in second if f.firing] == [("stepper", "predict")]

    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = finding_service_pb2_grpc.FindingServiceStub(channel)  # type: ignore[no-untyped-call]
        listed = stub.ListFindings(
            finding_service_pb2.ListFindingsRequest(model=common_pb2.ModelRef(name="stepper"), firing_only=True),
            timeout=10,
        )
        assert (
            stub.ListFindings(
                finding_service_pb2.ListFindingsRequest(model=common_pb2.ModelRef(name="spiker")), timeout=10
            ).findings
            == []
        )
    (finding,) = listed.findings
    assert finding.detector == "latency"
    assert finding.window_start.ToSeconds() == T0 + (HISTORY_MINUTES + 1) * MINUTE
    assert finding.since.ToSeconds() == T0 + HISTORY_MINUTES * MINUTE
    assert 280 < finding.value < 360
    assert 100 < finding.expected < 115  # the p95 of 100 ms with 5% noise is about 108 ms
    assert finding.details["z"] > 3.5
    assert "p95 latency of predict" in finding.summary


def test_findings_list_cli_reads_the_same_findings(service: RunningService, capsys: pytest.CaptureFixture[str]) -> None:
    """`inferwatch findings list --json` prints what the detectors stored."""
    rng = np.random.default_rng(7)
    spans: list[Span] = []
    for minute in range(HISTORY_MINUTES):
        spans += minute_of_spans("cli-model", minute, 50.0, rng)
    for minute in range(HISTORY_MINUTES, HISTORY_MINUTES + 3):
        spans += minute_of_spans("cli-model", minute, 400.0, rng)
    export(service.grpc_target, spans)
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.detectors is not None
    assert service.service.writer.flush(60)
    settle = service.service.detectors.options.rollup.settle_s
    for minute in (1, 2, 3):
        service.service.detectors.evaluate_once(now_s=T0 + (HISTORY_MINUTES + minute) * MINUTE + settle)
    db_url = service.config.storage.db_url
    assert main(["findings", "list", "--db-url", db_url, "--model", "cli-model", "--firing", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    expected_ends = [T0 + (HISTORY_MINUTES + n) * MINUTE for n in (3, 2)]
    assert [f["window_end"] for f in document["findings"]] == [
        datetime.fromtimestamp(end, tz=UTC).isoformat() for end in expected_ends
    ]
    assert {f["detector"] for f in document["findings"]} == {"latency"}
    assert main(["findings", "list", "--db-url", db_url, "--detector", "slo.burn"]) == 0
    assert capsys.readouterr().out.strip() == "no findings"
