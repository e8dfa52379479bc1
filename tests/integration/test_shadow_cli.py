"""The shadow workflow end to end: register a model, record traffic through the collector, run, store, report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from collector.cli.commands import main
from collector.core.config import Config
from inferwatch.v1 import common_pb2, prediction_service_pb2
from tests.integration.ingest_helpers import prediction_stub
from tests.integration.service_harness import RunningService, loopback_config
from tests.shadow.models import iris_tiny_mlp

FIRST_NS = 1_763_000_000_000_000_000
SECOND_NS = 1_000_000_000


@pytest.fixture
def service(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A running collector on a fresh database."""
    return start_service(loopback_config(db_url, tmp_path / "spool"))


def record_predictions(
    service: RunningService, input_name: str, rows: np.ndarray, count: int, first_ns: int = FIRST_NS
) -> None:
    """Send ``count`` predictions carrying raw input tensors through the native API, a second apart from
    ``first_ns`` (older than the default prediction retention unless given)."""
    predictions = []
    for n in range(count):
        row = rows[n % len(rows)].astype(np.float32).reshape(1, -1)
        prediction = prediction_service_pb2.Prediction(
            prediction_id=f"iris-{n}",
            model=common_pb2.ModelRef(name="iris", version="1"),
            time_unix_nano=first_ns + n * SECOND_NS,
        )
        prediction.raw_inputs[input_name].CopyFrom(
            common_pb2.Tensor(dtype=common_pb2.DATA_TYPE_FLOAT32, shape=list(row.shape), data=row.tobytes())
        )
        predictions.append(prediction)
    with grpc.insecure_channel(service.grpc_target) as channel:
        reply = prediction_stub(channel).LogPredictions(
            prediction_service_pb2.LogPredictionsRequest(predictions=predictions), timeout=30
        )
    assert reply.accepted == count
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(60)


def test_register_record_run_store_and_report(
    service: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """models register, then shadow run --json --report on recorded inputs; the run and its variants are stored."""
    model = iris_tiny_mlp(tmp_path)
    db_url = service.config.storage.db_url
    assert (
        main(
            [
                "models",
                "register",
                "--name",
                "iris",
                "--version",
                "1",
                "--onnx",
                str(model.path),
                "--task",
                "classification",
                "--db-url",
                db_url,
                "--json",
            ]
        )
        == 0
    )
    registered = json.loads(capsys.readouterr().out)
    assert (registered["created"], registered["hardware_class"]) == (True, "cpu")
    assert (
        main(
            [
                "models",
                "register",
                "--name",
                "iris",
                "--version",
                "1",
                "--onnx",
                str(model.path),
                "--db-url",
                db_url,
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["created"] is False

    record_predictions(service, model.input_name, model.rows, 120)
    report = tmp_path / "report.html"
    assert (
        main(
            [
                "shadow",
                "run",
                "--model",
                "iris",
                "--variants",
                "fp16",
                "--requests",
                "100",
                "--db-url",
                db_url,
                "--json",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["requests_replayed"] > 0
    assert document["recommendation"]["decision"] in {"switch", "keep"}
    assert "<svg" in report.read_text()

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            state, stored_report = connection.execute(
                text("SELECT state, report_html FROM shadow_runs WHERE id = :id"), {"id": document["run_id"]}
            ).one()
            names = (
                connection.execute(
                    text("SELECT name FROM shadow_variant_results WHERE run_id = :id ORDER BY name"),
                    {"id": document["run_id"]},
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert state == "succeeded"
    # Kept for the pages: the same HTML the CLI wrote.
    assert stored_report == report.read_text()
    assert any(name.startswith("baseline") for name in names)
    assert any(name.startswith("fp16") for name in names)


def test_shadow_run_errors_are_one_clear_line(
    service: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing artifact and an unregistered model are bad usage (exit 2); no recorded inputs is exit 1; each
    names its reason."""
    db_url = service.config.storage.db_url
    assert (
        main(
            [
                "models",
                "register",
                "--name",
                "m",
                "--version",
                "1",
                "--onnx",
                str(tmp_path / "nope.onnx"),
                "--db-url",
                db_url,
            ]
        )
        == 2
    )
    assert "nope.onnx does not exist" in capsys.readouterr().err
    assert main(["shadow", "run", "--model", "ghost", "--db-url", db_url]) == 2
    assert "model 'ghost' has no registered version" in capsys.readouterr().err
    model = iris_tiny_mlp(tmp_path)
    assert (
        main(["models", "register", "--name", "iris", "--version", "1", "--onnx", str(model.path), "--db-url", db_url])
        == 0
    )
    capsys.readouterr()
    assert main(["shadow", "run", "--model", "iris", "--db-url", db_url]) == 1
    context, error, *rest = capsys.readouterr().err.splitlines()
    assert context.startswith("inferwatch: no configuration file; database ")
    assert error.startswith("inferwatch: error: ")
    assert "recorded" in error
    assert rest == []


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run `inferwatch shadow run ... --json`, expect success, return its document."""
    assert main(["shadow", "run", *argv, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_shadow_section_pricing_and_flags(
    service: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[shadow] margins and looks and [pricing] prices reach the run; flags override the file; bad keys exit 2."""
    model = iris_tiny_mlp(tmp_path)
    db_url = service.config.storage.db_url
    register = ["models", "register", "--name", "iris", "--version", "1", "--onnx", str(model.path)]
    assert main([*register, "--db-url", db_url]) == 0
    capsys.readouterr()
    record_predictions(service, model.input_name, model.rows, 120)
    config = tmp_path / "inferwatch.toml"
    config.write_text(
        "[shadow]\nmin_agreement_lower_bound = 0.95\nmax_accuracy_loss_points = 1.5\nmin_improvement = 0.2\nlooks = 3\n"
        "[pricing.hardware]\ncpu = 2.0\n"
    )
    common = ["--model", "iris", "--variants", "fp16", "--requests", "100", "--db-url", db_url, "--config", str(config)]
    from_file = _run_json(capsys, *common, "--batch-size", "16")
    margins = from_file["margins"]
    assert (margins["min_agreement_lower_bound"], margins["max_accuracy_loss_points"]) == (0.95, 1.5)
    assert margins["min_improvement"] == 0.2
    assert from_file["looks_planned"] == 3
    for result in from_file["results"]:
        measurement = result["measurement"]
        assert measurement["throughput_batch"] == 16
        assert measurement["peak_memory_bytes"] > 0
    fp16 = next(r for r in from_file["results"] if r["key"] == "fp16")
    # Priced at the file's 2.0 $/hour: cost per 1k = 1000 / 3600 h x price / median rows per second.
    baseline_rps = from_file["results"][0]["measurement"]["throughput_rps"]
    assert fp16["verdict"]["cost"]["baseline_per_1k"] == pytest.approx(1000 / 3600 * 2.0 / baseline_rps)
    assert "margin 95.00%" in fp16["verdict"]["explanation"]

    flags = ["--min-agreement", "0.9", "--max-accuracy-loss", "2", "--min-improvement", "0.3", "--no-early-stop"]
    overridden = _run_json(capsys, *common, *flags)
    margins = overridden["margins"]
    assert (margins["min_agreement_lower_bound"], margins["max_accuracy_loss_points"]) == (0.9, 2.0)
    assert margins["min_improvement"] == 0.3
    assert (overridden["looks_planned"], overridden["stopped_early"]) == (1, False)
    assert overridden["requests_replayed"] == 100

    config.write_text("[shadow]\nmin_agrement = 0.9\n")
    assert main(["shadow", "run", *common]) == 2
    assert "[shadow] has unknown key(s): min_agrement" in capsys.readouterr().err
    config.write_text("[shadow]\nlooks = 0\n")
    assert main(["shadow", "run", *common]) == 2
    assert "looks" in capsys.readouterr().err
    config.write_text('[shadow.provider_hardware]\nCUDA = "nvidia-t4"\n')
    assert main(["shadow", "run", *common]) == 2
    assert "[shadow.provider_hardware] 'CUDA' is not an execution provider name" in capsys.readouterr().err
    config.write_text("")
    assert main(["shadow", "run", *common, "--provider-hardware", "CUDAExecutionProvider"]) == 2
    assert "--provider-hardware 'CUDAExecutionProvider': expected PROVIDER=CLASS" in capsys.readouterr().err


def test_registered_task_recorded_count_headline_and_batch_curves(
    service: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`models register --task` decides the task; requests_available counts what is recorded, not the sample;
    the text output opens with the headline; the stored metrics carry each model's batch curve, priced."""
    model = iris_tiny_mlp(tmp_path)
    db_url = service.config.storage.db_url
    register = ["models", "register", "--name", "iris", "--version", "1", "--onnx", str(model.path)]
    # The iris MLP outputs class probabilities, so left to itself the run would call it a classifier.
    assert main([*register, "--task", "regression", "--db-url", db_url]) == 0
    capsys.readouterr()
    record_predictions(service, model.input_name, model.rows, 120)
    config = tmp_path / "inferwatch.toml"
    config.write_text("[pricing.hardware]\ncpu = 2.0\n")
    common = ["--model", "iris", "--variants", "fp16", "--requests", "60", "--db-url", db_url, "--config", str(config)]
    document = _run_json(capsys, *common)
    assert document["task"] == "regression"
    assert (document["requests_available"], document["requests_replayed"] <= 60) == (120, True)
    headline = document["recommendation"]["headline"]
    assert headline.startswith(("switch to fp16", "keep the baseline ("))

    assert main(["shadow", "run", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("of 120 recorded requests replayed")
    assert lines[1].startswith(("switch to fp16", "keep the baseline ("))

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT name, metrics FROM shadow_variant_results WHERE run_id = :id"), {"id": document["run_id"]}
            ).all()
    finally:
        engine.dispose()
    assert {name for name, _ in stored} == {"baseline", "fp16"}
    for _, metrics in stored:
        curve = (json.loads(metrics) if isinstance(metrics, str) else metrics)["measurement"]["batch_curve"]
        assert [point["batch"] for point in curve] == [1, 2, 4, 8, 16, 32, 64]
        for point in curve:
            assert point["rows_per_s"] > 0
            assert point["cost_per_1k_usd"] == pytest.approx(1000 * 2.0 / 3600 / point["rows_per_s"])
