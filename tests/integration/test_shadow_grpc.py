"""ModelService and ShadowService over gRPC: register, start, follow progress, read the stored result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from collector.core.config import Config
from collector.core.errors import ConfigError
from collector.service.app import Service
from inferwatch.v1 import (
    common_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    shadow_service_pb2,
    shadow_service_pb2_grpc,
)
from tests.integration.service_harness import RunningService, loopback_config
from tests.integration.test_shadow_cli import FIRST_NS, SECOND_NS, record_predictions
from tests.shadow.models import iris_tiny_mlp


@pytest.fixture
def service(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A running service on a fresh database."""
    return start_service(loopback_config(db_url, tmp_path / "spool"))


def register(channel: grpc.Channel, path: Path) -> model_service_pb2.RegisterModelVersionResponse:
    """Register iris version 1 through ModelService."""
    stub = model_service_pb2_grpc.ModelServiceStub(channel)  # type: ignore[no-untyped-call]
    response: model_service_pb2.RegisterModelVersionResponse = stub.RegisterModelVersion(
        model_service_pb2.RegisterModelVersionRequest(
            model=common_pb2.ModelRef(name="iris", version="1"),
            artifact=model_service_pb2.Artifact(uri=str(path)),
            hardware_class="cpu",
            task=model_service_pb2.TASK_CLASSIFICATION,
        ),
        timeout=30,
    )
    return response


def test_start_follow_and_read_a_shadow_run(service: RunningService, tmp_path: Path) -> None:
    """A run started over gRPC goes queued/running to succeeded, with progress, variants and a recommendation."""
    model = iris_tiny_mlp(tmp_path)
    with grpc.insecure_channel(service.grpc_target) as channel:
        registered = register(channel, model.path)
        assert registered.created
        assert registered.model_version.task == model_service_pb2.TASK_CLASSIFICATION
        record_predictions(service, model.input_name, model.rows, 120)
        stub = shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]
        started = stub.StartShadowRun(
            shadow_service_pb2.StartShadowRunRequest(
                model=common_pb2.ModelRef(name="iris"),
                variants=[shadow_service_pb2.VariantSpec(builtin=shadow_service_pb2.BUILTIN_VARIANT_FLOAT16)],
                requests=100,
            ),
            timeout=30,
        )
        assert started.model.version == "1"
        deadline = time.monotonic() + 120
        status = started
        while status.state in (shadow_service_pb2.SHADOW_RUN_STATE_QUEUED, shadow_service_pb2.SHADOW_RUN_STATE_RUNNING):
            assert time.monotonic() < deadline, "the run did not finish in time"
            time.sleep(0.2)
            status = stub.GetShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=started.run_id), timeout=10)
        assert status.state == shadow_service_pb2.SHADOW_RUN_STATE_SUCCEEDED, status.error
        assert status.progress_total > 0
        result = stub.GetShadowRunResult(shadow_service_pb2.GetShadowRunRequest(run_id=started.run_id), timeout=10)
        listed = stub.ListShadowRuns(shadow_service_pb2.ListShadowRunsRequest(), timeout=10)
    names = {variant.name for variant in result.variants}
    assert any(name.startswith("baseline") for name in names)
    assert any(name.startswith("fp16") for name in names)
    fp16 = next(v for v in result.variants if v.name.startswith("fp16"))
    assert 0.0 < fp16.quality.agreement_lower_bound <= fp16.quality.agreement <= 1.0
    assert fp16.latency_batch1.p50_ms > 0
    assert result.recommendation.decision in (shadow_service_pb2.DECISION_SWITCH, shadow_service_pb2.DECISION_KEEP)
    assert result.recommendation.explanation
    assert [run.run_id for run in listed.runs] == [started.run_id]


def test_bad_requests_get_clear_status_codes(service: RunningService, tmp_path: Path) -> None:
    """A missing artifact is INVALID_ARGUMENT, an unknown model FAILED_PRECONDITION, an unknown run NOT_FOUND."""
    with grpc.insecure_channel(service.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as missing:
            register(channel, tmp_path / "missing.onnx")
        stub = shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as unknown:
            stub.StartShadowRun(
                shadow_service_pb2.StartShadowRunRequest(model=common_pb2.ModelRef(name="ghost")), timeout=10
            )
        with pytest.raises(grpc.RpcError) as no_run:
            stub.GetShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id="nope"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing.onnx does not exist" in (missing.value.details() or "")
    assert unknown.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ghost" in (unknown.value.details() or "")
    assert no_run.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_run_without_recorded_inputs_fails_with_the_reason(service: RunningService, tmp_path: Path) -> None:
    """Starting is accepted; the run then fails and says there was nothing to replay."""
    model = iris_tiny_mlp(tmp_path)
    with grpc.insecure_channel(service.grpc_target) as channel:
        register(channel, model.path)
        stub = shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]
        started = stub.StartShadowRun(
            shadow_service_pb2.StartShadowRunRequest(model=common_pb2.ModelRef(name="iris", version="1")), timeout=10
        )
        deadline = time.monotonic() + 60
        status = started
        while status.state != shadow_service_pb2.SHADOW_RUN_STATE_FAILED and time.monotonic() < deadline:
            time.sleep(0.1)
            status = stub.GetShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=started.run_id), timeout=10)
        with pytest.raises(grpc.RpcError) as not_done:
            stub.GetShadowRunResult(shadow_service_pb2.GetShadowRunRequest(run_id=started.run_id), timeout=10)
    assert status.state == shadow_service_pb2.SHADOW_RUN_STATE_FAILED
    assert "recorded" in status.error
    assert not_done.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _wait(stub: Any, run_id: str) -> shadow_service_pb2.ShadowRun:
    """Poll a run until it leaves queued/running."""
    deadline = time.monotonic() + 120
    status: shadow_service_pb2.ShadowRun = stub.GetShadowRun(
        shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10
    )
    while status.state in (shadow_service_pb2.SHADOW_RUN_STATE_QUEUED, shadow_service_pb2.SHADOW_RUN_STATE_RUNNING):
        assert time.monotonic() < deadline, "the run did not finish in time"
        time.sleep(0.2)
        status = stub.GetShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
    return status


def test_request_fields_and_configured_settings_are_honoured(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """margin, disable_early_stop, sample_range, batch_size and the variant's provider and class reach the run."""
    sections = {"shadow": {"min_improvement": 0.25}, "pricing": {"hardware": {"cheap-cpu": 0.05}}}
    service = start_service(replace(loopback_config(db_url, tmp_path / "spool"), feature_sections=sections))
    model = iris_tiny_mlp(tmp_path)
    with grpc.insecure_channel(service.grpc_target) as channel:
        register(channel, model.path)
        record_predictions(service, model.input_name, model.rows, 120)  # one per second from FIRST_NS
        stub = shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]
        sample_range = common_pb2.TimeRange()
        sample_range.start.FromNanoseconds(FIRST_NS)
        sample_range.end.FromNanoseconds(FIRST_NS + 60 * SECOND_NS)
        fp16 = shadow_service_pb2.VariantSpec(
            builtin=shadow_service_pb2.BUILTIN_VARIANT_FLOAT16,
            execution_provider="CPUExecutionProvider",
            hardware_class="cheap-cpu",
        )
        started = stub.StartShadowRun(
            shadow_service_pb2.StartShadowRunRequest(
                model=common_pb2.ModelRef(name="iris", version="1"),
                variants=[fp16],
                requests=100,
                batch_size=8,
                sample_range=sample_range,
                margin=shadow_service_pb2.QualityMargin(min_agreement_lower_bound=0.9),
                disable_early_stop=True,
            ),
            timeout=30,
        )
        status = _wait(stub, started.run_id)
        assert status.state == shadow_service_pb2.SHADOW_RUN_STATE_SUCCEEDED, status.error
        result = stub.GetShadowRunResult(shadow_service_pb2.GetShadowRunRequest(run_id=started.run_id), timeout=10)
        with pytest.raises(grpc.RpcError) as absent:
            stub.StartShadowRun(
                shadow_service_pb2.StartShadowRunRequest(
                    model=common_pb2.ModelRef(name="iris"),
                    variants=[
                        shadow_service_pb2.VariantSpec(
                            builtin=shadow_service_pb2.BUILTIN_VARIANT_FLOAT16,
                            execution_provider="NoSuchExecutionProvider",
                        )
                    ],
                ),
                timeout=30,
            )
        with pytest.raises(grpc.RpcError) as bad_margin:
            stub.StartShadowRun(
                shadow_service_pb2.StartShadowRunRequest(
                    model=common_pb2.ModelRef(name="iris"),
                    margin=shadow_service_pb2.QualityMargin(min_agreement_lower_bound=1.5),
                ),
                timeout=30,
            )
    baseline, variant = result.variants
    assert (baseline.hardware_class, variant.hardware_class) == ("cpu", "cheap-cpu")
    assert variant.execution_provider == "CPUExecutionProvider"
    # Only the 60 requests inside the range exist, and with early stop disabled every one is replayed.
    assert variant.requests_replayed == 60
    assert variant.throughput_batch_size == 8
    # Priced by its own class: 1000 / 3600 h x 0.05 $/h / median rows per second.
    assert variant.cost_per_1k_predictions == pytest.approx(1000 / 3600 * 0.05 / variant.throughput_per_s)
    explanation = result.recommendation.explanation
    assert "margin 90.00%" in explanation  # from the request
    assert "need <= 0.75" in explanation  # min_improvement 0.25 from the [shadow] section
    assert absent.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'NoSuchExecutionProvider' is not available here" in (absent.value.details() or "")
    assert bad_margin.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "min_agreement_lower_bound" in (bad_margin.value.details() or "")


def test_a_bad_shadow_section_stops_start_up(db_url: str, tmp_path: Path) -> None:
    """The composition root parses [shadow] before anything starts, and names the bad key."""
    config = replace(loopback_config(db_url, tmp_path / "spool"), feature_sections={"shadow": {"min_agreement": 0.9}})

    async def start() -> None:
        async with Service(config):
            pass

    with pytest.raises(ConfigError, match=r"\[shadow\] has unknown key\(s\): min_agreement"):
        asyncio.run(start())
