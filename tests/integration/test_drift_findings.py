"""Drift end to end: predictions in over gRPC, a reference set over gRPC and the CLI, a shift found and listed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest

from collector.cli.commands import main
from collector.core.config import Config, DetectorsConfig
from inferwatch.v1 import (
    common_pb2,
    finding_service_pb2,
    finding_service_pb2_grpc,
    prediction_service_pb2,
)
from tests.integration.ingest_helpers import prediction_stub
from tests.integration.service_harness import RunningService, loopback_config

HOUR = 3600
T0 = 1_763_000_000 // HOUR * HOUR
NANOS = 1_000_000_000


@pytest.fixture
def service(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A service whose own detector loop stays out of the way; the test drives evaluation with its clock."""
    config = replace(loopback_config(db_url, tmp_path / "spool"), detectors=DetectorsConfig(detector_interval_s=3600))
    running = start_service(config)
    assert running.service is not None
    assert running.service.detectors is not None
    # The service's own first pass runs on the wall clock; the tests drive later passes with theirs.
    assert running.service.detectors.first_pass_done.wait(30)
    return running


def send_predictions(target: str, model: str, start_s: int, count: int, *, shift: float, seed: int) -> None:
    """``count`` predictions spread over the hour from ``start_s``: amount ~ N(100 + 20 shift, 20), a country."""
    rng = np.random.default_rng(seed)
    predictions = []
    for i in range(count):
        prediction = prediction_service_pb2.Prediction(
            prediction_id=f"{model}-{start_s}-{i}",
            model=common_pb2.ModelRef(name=model, version="3"),
            time_unix_nano=(start_s * NANOS) + i * (HOUR * NANOS // count),
        )
        prediction.features["amount"].number = float(rng.normal(100 + 20 * shift, 20))
        prediction.features["age"].number = float(rng.normal(40, 10))
        prediction.features["country"].category = str(rng.choice(["DE", "FR", "US"]))
        prediction.output.label = "ok"
        predictions.append(prediction)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_stub(channel)
        for first in range(0, count, 500):
            batch = prediction_service_pb2.LogPredictionsRequest(predictions=predictions[first : first + 500])
            assert stub.LogPredictions(batch, timeout=30).accepted == len(batch.predictions)


def test_shift_is_found_for_that_model_and_version(service: RunningService, capsys: pytest.CaptureFixture[str]) -> None:
    """Reference hour, then a shifted hour: a firing drift.data finding for (model, version), over gRPC and CLI."""
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.detectors is not None
    send_predictions(service.grpc_target, "fraud", T0, 1500, shift=0.0, seed=1)
    send_predictions(service.grpc_target, "fraud", T0 + HOUR, 800, shift=1.0, seed=2)
    assert service.service.writer.flush(60)
    db_url = service.config.storage.db_url

    with grpc.insecure_channel(service.grpc_target) as channel:
        references = finding_service_pb2_grpc.ReferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = finding_service_pb2.SetReferenceRequest(model=common_pb2.ModelRef(name="fraud", version="3"))
        request.range.start.FromSeconds(T0)
        request.range.end.FromSeconds(T0 + HOUR)
        reference = references.SetReference(request, timeout=30)
        assert reference.row_count == 1500
        assert reference.name == "default"
        assert reference.source == "time_range"
        assert set(reference.features) == {"amount", "age", "country", "output.label"}

        empty = finding_service_pb2.SetReferenceRequest(model=common_pb2.ModelRef(name="nobody", version="1"))
        empty.range.start.FromSeconds(T0)
        empty.range.end.FromSeconds(T0 + HOUR)
        with pytest.raises(grpc.RpcError) as refused:
            references.SetReference(empty, timeout=30)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no predictions of model 'nobody'" in (refused.value.details() or "")

        inverted = finding_service_pb2.SetReferenceRequest(model=common_pb2.ModelRef(name="fraud", version="3"))
        inverted.range.start.FromSeconds(T0 + HOUR)
        inverted.range.end.FromSeconds(T0)
        with pytest.raises(grpc.RpcError) as refused:
            references.SetReference(inverted, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "must be after range.start" in (refused.value.details() or "")

    settle = service.service.detectors.options.drift.settle_s
    service.service.detectors.evaluate_once(now_s=T0 + 2 * HOUR + settle)

    with grpc.insecure_channel(service.grpc_target) as channel:
        findings = finding_service_pb2_grpc.FindingServiceStub(channel)  # type: ignore[no-untyped-call]
        listed = findings.ListFindings(
            finding_service_pb2.ListFindingsRequest(
                model=common_pb2.ModelRef(name="fraud", version="3"), detector="drift.data", firing_only=True
            ),
            timeout=10,
        )
    (finding,) = listed.findings
    assert finding.window_start.ToSeconds() == T0 + HOUR
    assert finding.details["report"]["drifted_features"] == ["amount"]

    assert main(["reference", "list", "--db-url", db_url, "--model", "fraud", "--json"]) == 0
    (listed_reference,) = json.loads(capsys.readouterr().out)["references"]
    assert listed_reference["row_count"] == 1500
    assert listed_reference["version"] == "3"


def test_reference_set_cli_from_a_range_and_from_a_file(
    service: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`reference set` fits from recorded predictions or from a CSV file, and says what is wrong otherwise."""
    assert service.service is not None
    assert service.service.writer is not None
    send_predictions(service.grpc_target, "cli", T0, 300, shift=0.0, seed=3)
    assert service.service.writer.flush(60)
    db_url = service.config.storage.db_url
    start, end = "2025-11-13T02:00:00", "2025-11-13T03:00:00"
    assert T0 == 1_763_000_000 // HOUR * HOUR  # 2025-11-13T02:00Z, the times above
    code = main(["reference", "set", "--db-url", db_url, "--model", "cli", "--version", "3", "--from", start,
                 "--to", end, "--json"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["reference"]["row_count"] == 300

    training = tmp_path / "train.csv"
    training.write_text("amount,country\n" + "".join(f"{i},DE\n" for i in range(50)))
    code = main(["reference", "set", "--db-url", db_url, "--model", "cli", "--version", "4", "--file", str(training)])
    assert code == 0
    assert "stored cli 4 [default]: 50 rows from" in capsys.readouterr().out

    assert main(["reference", "set", "--db-url", db_url, "--model", "cli", "--version", "4"]) == 2
    assert "give either --from and --to, or --file" in capsys.readouterr().err
    missing = tmp_path / "absent.csv"
    assert (
        main(["reference", "set", "--db-url", db_url, "--model", "cli", "--version", "4", "--file", str(missing)]) == 2
    )
    assert "absent.csv: no such file" in capsys.readouterr().err
    empty = ["--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z"]
    assert main(["reference", "set", "--db-url", db_url, "--model", "cli", "--version", "9", *empty]) == 2
    assert "no predictions of model 'cli' version '9'" in capsys.readouterr().err
