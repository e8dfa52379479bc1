"""Latency detection for young, quiet and backfilled models, through the real collector: spans in over OTLP,
rolled up and stored, findings out of the detector pass (warm-up, pooling, backfill, SLO threshold, cool-down)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.core.config import Config, DetectorsConfig
from collector.core.domain import Finding
from tests.integration.ingest_helpers import TRACE_EXPORT, raw_call
from tests.integration.service_harness import RunningService, loopback_config

MINUTE = 60
T0 = 1_763_000_000 // 3600 * 3600  # a whole hour in November 2025


def spans_of_minute(model: str, minute: int, count: int, latency_ms: float, rng: np.random.Generator) -> list[Span]:
    """``count`` inference spans of ``model`` spread over the given minute, around ``latency_ms`` with 5% noise."""
    spans = []
    for n in range(count):
        start = (T0 + minute * MINUTE) * 1_000_000_000 + n * (MINUTE * 1_000_000_000 // max(count, 1))
        ident = hashlib.blake2b(f"{model}/{minute}/{n}".encode(), digest_size=16).digest()
        span = Span(
            trace_id=ident,
            span_id=ident[:8],
            name="predict",
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(latency_ms * rng.lognormal(0.0, 0.05) * 1e6),
        )
        for key, value in (("ml.model.name", model), ("ml.model.version", "1")):
            attribute = span.attributes.add()
            attribute.key = key
            attribute.value.string_value = value
        spans.append(span)
    return spans


def send(service: RunningService, spans: list[Span]) -> None:
    """Export over OTLP/gRPC in requests of 512 and wait until the writer has stored them."""
    with grpc.insecure_channel(service.grpc_target) as channel:
        call = raw_call(channel, TRACE_EXPORT)
        for first in range(0, len(spans), 512):
            request = ExportTraceServiceRequest(
                resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans[first : first + 512])])]
            )
            call(request.SerializeToString(), timeout=30)
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(60)


def evaluate_after(service: RunningService, minute: int) -> list[Finding]:
    """The latency findings of the pass that judges minute ``minute - 1`` (run at the end of it, plus settle)."""
    assert service.service is not None
    assert service.service.detectors is not None
    detectors = service.service.detectors
    findings = detectors.evaluate_once(now_s=T0 + minute * MINUTE + detectors.options.rollup.settle_s)
    return [finding for finding in findings if finding.detector == "latency"]


def start(
    start_service: Callable[[Config], RunningService], db_url: str, tmp_path: Path, **sections: object
) -> RunningService:
    """A service whose own detector loop stays out of the way; the test drives passes with its clock."""
    base = loopback_config(db_url, tmp_path / "spool")
    detectors = DetectorsConfig(detector_interval_s=3600, **sections.pop("detectors", {}))  # type: ignore[arg-type]
    running = start_service(replace(base, detectors=detectors, feature_sections=sections))
    assert running.service is not None
    assert running.service.detectors is not None
    # The scheduler's own first pass runs on the wall clock; spans sent while it rolls up would be half-counted.
    assert running.service.detectors.first_pass_done.wait(30)
    return running


def test_a_16x_step_on_a_young_model_fires_while_warming_up(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Twenty minutes of history are enough to report a 16x step at its second minute, marked as warming up."""
    service = start(start_service, db_url, tmp_path)
    rng = np.random.default_rng(1)
    spans = [span for minute in range(20) for span in spans_of_minute("young", minute, 30, 50.0, rng)]
    spans += [span for minute in (20, 21) for span in spans_of_minute("young", minute, 30, 800.0, rng)]
    send(service, spans)
    assert not any(finding.firing for finding in evaluate_after(service, 20))
    assert not any(finding.firing for finding in evaluate_after(service, 21))
    (finding,) = evaluate_after(service, 22)
    assert finding.firing
    assert finding.details["warming_up"] is True
    assert "warming up (baseline from the 21 points so far)" in finding.summary
    assert finding.since is not None
    assert finding.since.timestamp() == T0 + 20 * MINUTE
    assert finding.value is not None
    assert finding.value > 700
    assert finding.expected is not None
    assert 45 < finding.expected < 65


def test_a_quiet_model_is_judged_on_pooled_minutes(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """At 5 requests a minute (300 an hour) minutes are pooled to 20 requests, and a step fires within minutes."""
    service = start(start_service, db_url, tmp_path)
    rng = np.random.default_rng(2)
    spans = [span for minute in range(180) for span in spans_of_minute("quiet", minute, 5, 80.0, rng)]
    spans += [span for minute in range(180, 195) for span in spans_of_minute("quiet", minute, 5, 400.0, rng)]
    send(service, spans)
    before = evaluate_after(service, 180)
    assert not any(finding.firing for finding in before)
    fired_at = None
    for minute in range(181, 196):
        firing = [finding for finding in evaluate_after(service, minute) if finding.firing]
        if firing:
            fired_at, (finding,) = minute, firing
            break
    assert fired_at is not None, "a 5x step at 300 requests an hour fires within 15 min"
    assert fired_at <= 180 + 12
    assert finding.details["requests"] >= 20
    assert finding.details["warming_up"] is False
    assert (finding.window_end - finding.window_start).total_seconds() == 4 * MINUTE
    assert "over 4 min (20 requests)" in finding.summary


def test_the_minimum_is_a_setting(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With detectors.latency_min_requests = 5, the same quiet model is judged minute by minute."""
    service = start(start_service, db_url, tmp_path, detectors={"latency_min_requests": 5})
    assert service.service is not None
    assert service.service.detectors is not None
    assert service.service.detectors.options.latency.min_requests == 5
    rng = np.random.default_rng(3)
    spans = [span for minute in range(90) for span in spans_of_minute("quiet", minute, 5, 80.0, rng)]
    spans += [span for minute in (90, 91) for span in spans_of_minute("quiet", minute, 5, 400.0, rng)]
    send(service, spans)
    (finding,) = evaluate_after(service, 92)
    assert finding.firing
    assert (finding.window_end - finding.window_start).total_seconds() == MINUTE


def test_backfilled_history_ends_the_warm_up(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Minutes that arrive late are rolled up and count as history: the same minute judged again, after a
    backfill, is judged against the settled baseline instead of the warm-up bound."""
    service = start(start_service, db_url, tmp_path)
    rng = np.random.default_rng(4)
    # Eight live minutes, the last two 50% slower: too small a step for the warm-up bound (about +69%).
    live = [span for minute in range(120, 126) for span in spans_of_minute("late", minute, 30, 60.0, rng)]
    live += [span for minute in (126, 127) for span in spans_of_minute("late", minute, 30, 90.0, rng)]
    send(service, live)
    assert not any(finding.firing for finding in evaluate_after(service, 128))
    # Then the service backfills the two hours before: the same two minutes are now a plain step.
    send(service, [span for minute in range(120) for span in spans_of_minute("late", minute, 30, 60.0, rng)])
    (settled,) = evaluate_after(service, 128)
    assert settled.firing
    assert settled.details["warming_up"] is False
    assert settled.details["baseline_points"] >= 90
    assert "warming up" not in settled.summary


def test_during_warm_up_the_slo_threshold_is_enough(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With three minutes of data and nothing learned, p95 over the model's SLO threshold still fires."""
    service = start(
        start_service, db_url, tmp_path, slo={"fresh": {"latency_threshold_ms": 150, "latency_target": 0.99}}
    )
    rng = np.random.default_rng(5)
    spans = [span for minute in range(3) for span in spans_of_minute("fresh", minute, 30, 100.0, rng)]
    spans += [span for minute in (3, 4) for span in spans_of_minute("fresh", minute, 30, 200.0, rng)]
    send(service, spans)
    assert not any(finding.firing for finding in evaluate_after(service, 4))
    (finding,) = evaluate_after(service, 5)
    assert finding.firing
    assert "warming up (above the SLO latency threshold)" in finding.summary
    assert finding.details["over_slo_threshold"] is True


def test_a_finding_cooling_down_says_so_and_when_it_was_out_of_band(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """After a step ends, the detector keeps firing for recover_n minutes; its summary says it is cooling down
    and when the latency was out of band, not an in-band value as if it were the problem."""
    service = start(start_service, db_url, tmp_path)
    rng = np.random.default_rng(6)
    spans = [span for minute in range(120) for span in spans_of_minute("cool", minute, 30, 60.0, rng)]
    spans += [span for minute in (120, 121, 122) for span in spans_of_minute("cool", minute, 30, 300.0, rng)]
    spans += [span for minute in (123, 124) for span in spans_of_minute("cool", minute, 30, 60.0, rng)]
    send(service, spans)
    for minute in (121, 122, 123):
        evaluate_after(service, minute)
    (finding,) = evaluate_after(service, 124)
    assert finding.firing
    assert finding.details["cooling_down"] is True
    assert "cooling down: out of band from 2025-11-13 04:00 UTC to 2025-11-13 04:03 UTC" in finding.summary
    assert "now back in band at" in finding.summary
    assert finding.details["last_out_of_band"] == "2025-11-13T04:02:00+00:00"
