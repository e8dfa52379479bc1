"""Cost through the real collector: SDK spans in over OTLP, a cost anomaly and a cost report out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collector.cli.commands import main
from collector.core.config import Config, DetectorsConfig
from collector.core.errors import ConfigError
from inferwatch.v1 import common_pb2, finding_service_pb2, finding_service_pb2_grpc
from tests.integration.service_harness import RunningService, loopback_config

MINUTE = 60
T0 = 1_763_000_000 // 3600 * 3600
PER_MINUTE = 5
PRICING = {
    # $2.5/M input and $10/M output: a request of 1,000 in and 200 out tokens costs $0.0045.
    "tokens": {
        "support-bot": {"input_per_million": 2.5, "output_per_million": 10.0},
        "steady-bot": {"input_per_million": 2.5, "output_per_million": 10.0},
    },
    "anomaly": {"window_minutes": 10, "min_impact_usd": 0.1, "min_impact_percent": 20},
}


def export_chat_spans(target: str, model: str, snapshots: list[tuple[str, int, int]]) -> None:
    """Per minute, PER_MINUTE chat spans from the real SDK: (served snapshot, input tokens, output tokens)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=target, insecure=True), max_queue_size=4096)
    )
    tracer = provider.get_tracer("tests")
    for minute, (snapshot, input_tokens, output_tokens) in enumerate(snapshots):
        for n in range(PER_MINUTE):
            start = (T0 + minute * MINUTE + n * 10) * 1_000_000_000
            span = tracer.start_span("chat", start_time=start)
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.request.model", model)
            span.set_attribute("gen_ai.response.model", snapshot)
            span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
            span.end(end_time=start + 800_000_000)
    assert provider.force_flush(timeout_millis=60_000)
    provider.shutdown()


@pytest.fixture
def service(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A service with token prices and a 10-minute cost window; the test drives evaluation with its clock."""
    config = replace(
        loopback_config(db_url, tmp_path / "spool"),
        detectors=DetectorsConfig(detector_interval_s=3600),
        feature_sections={"pricing": PRICING},
    )
    running = start_service(config)
    assert running.service is not None
    assert running.service.detectors is not None
    # The scheduler's own first pass runs on the wall clock; spans sent while it rolls up would be half-counted.
    assert running.service.detectors.first_pass_done.wait(30)
    return running


def test_a_snapshot_with_twice_the_tokens_is_flagged_with_its_dollar_impact(
    service: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """30 min of v1, then 10 min of v2 at twice the tokens: +$0.225 (+100%) over 10 min, v2 named; cost report."""
    export_chat_spans(
        service.grpc_target, "support-bot", [("support-bot-v1", 1000, 200)] * 30 + [("support-bot-v2", 2000, 400)] * 10
    )
    export_chat_spans(service.grpc_target, "steady-bot", [("steady-bot-v1", 1000, 200)] * 40)
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.detectors is not None
    assert service.service.writer.flush(60)

    settle = service.service.detectors.options.rollup.settle_s
    found = service.service.detectors.evaluate_once(now_s=T0 + 40 * MINUTE + settle)
    (finding,) = [f for f in found if f.detector == "cost"]  # steady-bot is quiet, so not stored
    assert (finding.model_name, finding.firing) == ("support-bot", True)
    # 50 requests in the window: $0.225 expected from v1's windows, $0.45 spent by v2.
    assert finding.value == pytest.approx(0.45)
    assert finding.expected == pytest.approx(0.225)
    assert finding.details["impact_usd"] == pytest.approx(0.225)
    assert finding.details["impact_percent"] == pytest.approx(100.0)
    assert "from version support-bot-v2 +$0.450, operation chat +$0.225, input tokens +$0.125" in finding.summary

    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = finding_service_pb2_grpc.FindingServiceStub(channel)  # type: ignore[no-untyped-call]
        listed = stub.ListFindings(
            finding_service_pb2.ListFindingsRequest(model=common_pb2.ModelRef(name="support-bot"), detector="cost"),
            timeout=10,
        ).findings
    assert [(f.detector, f.firing, f.window_end.ToSeconds()) for f in listed] == [("cost", True, T0 + 40 * MINUTE)]
    contributors = {(c["dimension"], c["value"]): c["impact_usd"] for c in listed[0].details["contributors"]}
    assert contributors[("version", "support-bot-v2")] == pytest.approx(0.45)
    assert contributors[("usage", "output_tokens")] == pytest.approx(0.1)

    # The CLI reads its prices from the same kind of file the service does.
    config_file = tmp_path / "inferwatch.toml"
    config_file.write_text('[pricing.tokens."support-bot"]\ninput_per_million = 2.5\noutput_per_million = 10.0\n')
    since = datetime.fromtimestamp(T0, tz=UTC).isoformat()
    db_url = service.config.storage.db_url
    command = ["cost", "report", "--config", str(config_file), "--db-url", db_url, "--model", "support-bot"]
    assert main([*command, "--since", since, "--json"]) == 0
    report = {line["version"]: line for line in json.loads(capsys.readouterr().out)["models"]}
    assert set(report) == {"support-bot-v1", "support-bot-v2"}
    assert report["support-bot-v1"]["requests"] == 150
    assert report["support-bot-v1"]["total_usd"] == pytest.approx(0.675)
    assert report["support-bot-v1"]["usd_per_1k_predictions"] == pytest.approx(4.5)
    assert report["support-bot-v2"]["usd_per_1k_predictions"] == pytest.approx(9.0)
    assert report["support-bot-v2"]["usd_per_hour"] == pytest.approx(2.7)  # $0.45 in 10 minutes


@pytest.mark.parametrize(
    ("pricing", "message"),
    [
        ({"hardware": {"nvidia-l4": -1}}, r"`\[pricing.hardware\] nvidia-l4` must be a finite number >= 0, got -1"),
        ({"anomaly": {"min_impact_percent": "high"}}, r"min_impact_percent must be a finite number >= 0, got 'high'"),
    ],
)
def test_a_bad_price_stops_start_up(
    tmp_path: Path, start_service: Callable[[Config], RunningService], pricing: dict[str, object], message: str
) -> None:
    """A [pricing] mistake stops the service before it starts, naming the key and the value."""
    config = replace(
        loopback_config(f"sqlite:///{tmp_path / 'inferwatch.db'}", tmp_path / "spool"),
        feature_sections={"pricing": pricing},
    )
    with pytest.raises(ConfigError, match=message):
        start_service(config)
