"""RightsizeService over gRPC on a running service: the same answer as the CLI, and the same refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from collector.cli.commands import main
from collector.core.config import Config
from inferwatch.v1 import common_pb2, rightsize_service_pb2, rightsize_service_pb2_grpc
from tests.integration.http_helpers import http_get
from tests.integration.service_harness import RunningService, loopback_config
from tests.rightsize.planting import MODEL
from tests.rightsize.test_known_answer import CONFIG, planted_window

SECTIONS = {
    "slo": {"fraud": {"latency_threshold_ms": 100, "latency_target": 0.99}},
    "pricing": {"hardware": {"cpu": 0.10, "nvidia-t4": {"spot_per_hour": 0.20}}},
    "rightsize": {"batching_delays_ms": [0, 10]},
}


def test_rightsize_over_grpc_matches_the_cli(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService], capsys: pytest.CaptureFixture[str]
) -> None:
    """The planted day-night case: switch to 2 T4s, with the CLI's options, costs, autoscaling and advice."""
    service = start_service(replace(loopback_config(db_url, tmp_path / "spool"), feature_sections=SECTIONS))
    start, _ = planted_window(db_url)
    request = rightsize_service_pb2.RightsizeRequest(model=common_pb2.ModelRef(name=MODEL), current_replicas=32)
    request.since.FromDatetime(start)
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = rightsize_service_pb2_grpc.RightsizeServiceStub(channel)  # type: ignore[no-untyped-call]
        report = stub.Rightsize(request, timeout=60)
    config = tmp_path / "inferwatch.toml"
    config.write_text(CONFIG)
    args = ["rightsize", "--model", MODEL, "--since", start.isoformat(), "--replicas", "32", "--json"]
    assert main([*args, "--db-url", db_url, "--config", str(config)]) == 0
    cli = json.loads(capsys.readouterr().out)

    assert report.answer.decision == rightsize_service_pb2.RIGHTSIZE_DECISION_SWITCH
    assert report.answer.text == cli["answer"]["text"]
    assert report.answer.saving_usd_per_month == pytest.approx(cli["answer"]["saving_usd_per_month"])
    assert [(o.name, o.replicas, o.replicas_bound, o.spot) for o in report.options] == [
        (o["name"], o["replicas"], o["replicas_bound"], o["spot"]) for o in cli["options"]
    ]
    assert report.options[0].hardware_class == "nvidia-t4"
    assert report.options[0].usd_per_month == pytest.approx(2 * 0.526 * 730)
    assert report.options[-1].interruption_risk
    t4 = next(m for m in report.supply if m.hardware_class == "nvidia-t4" and m.safe)
    assert [(p.batch_size, p.rows_per_s, p.rows_per_s_bound) for p in t4.batch_curve] == [(1, 250, 200), (8, 1000, 800)]
    assert report.demand.peak_rps == 1000.0
    assert len(report.demand.weekly) == 168
    assert report.autoscaling.mean_replicas == pytest.approx(cli["autoscaling"]["mean_replicas"])
    assert len(report.autoscaling.hours) == 168
    assert list(report.measure_next) == cli["measure_next"]
    assert report.today.replicas_source == "given"
    assert "M/D/c" in report.queueing_model
    assert report.text.startswith("right-sizing fraud: switch to 2 x nvidia-t4")


def test_missing_inputs_are_failed_precondition_and_a_missing_name_invalid_argument(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """A model without SLO, traffic or measurements is named with what to add; no model name is a bad request."""
    service = start_service(replace(loopback_config(db_url, tmp_path / "spool"), feature_sections=SECTIONS))
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = rightsize_service_pb2_grpc.RightsizeServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as missing:
            stub.Rightsize(rightsize_service_pb2.RightsizeRequest(model=common_pb2.ModelRef(name="iris")), timeout=30)
        assert missing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no latency SLO for iris" in missing.value.details()
        assert "no shadow measurements of iris" in missing.value.details()
        with pytest.raises(grpc.RpcError) as unnamed:
            stub.Rightsize(rightsize_service_pb2.RightsizeRequest(), timeout=30)
        assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = rightsize_service_pb2.RightsizeRequest(model=common_pb2.ModelRef(name=MODEL), headroom=1.5)
        with pytest.raises(grpc.RpcError) as invalid:
            stub.Rightsize(bad, timeout=30)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "headroom" in invalid.value.details()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_model_page_shows_the_same_answer(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """The model's page carries the right-sizing answer the CLI gives for the last 14 days."""
    sections = {**SECTIONS, "rightsize": {"batching_delays_ms": [0, 10], "replicas": {MODEL: 32}}}
    service = start_service(replace(loopback_config(db_url, tmp_path / "spool"), feature_sections=sections))
    planted_window(db_url)
    status, body, _ = http_get(f"{service.http_base}/model?name={MODEL}")
    assert status == 200
    section = body[body.index('id="rightsizing"') :]
    assert "nvidia-t4" in section
    assert "switch" in section.lower()
    assert "cannot right-size" not in section
