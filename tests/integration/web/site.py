"""One service with every kind of data a page shows, from a real run: spans through the OpenTelemetry SDK,
predictions and a drift reference over gRPC, a drift finding and the alert it raises (sent to a real webhook),
and a shadow run through the CLI. Tokens are configured, so the pages need a session."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from collector.cli.commands import main
from collector.core.config import AuthConfig, DetectorsConfig
from inferwatch.v1 import common_pb2, finding_service_pb2, finding_service_pb2_grpc, prediction_service_pb2
from tests.alerts.conftest import Receiver
from tests.integration.ingest_helpers import prediction_stub
from tests.integration.service_harness import RunningService, loopback_config
from tests.shadow.models import iris_tiny_mlp

HOUR = 3600
NANOS = 1_000_000_000
READER, ADMIN = "reader-token", "admin-token"
AUTH = (("authorization", f"Bearer {ADMIN}"),)
WAIT_S = 30.0


@dataclass(frozen=True)
class Site:
    """The running service and what the tests look for on its pages."""

    service: RunningService
    receiver: Receiver
    shadow_run_id: str

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` of the pages."""
        return self.service.http_base


def send_predictions(target: str, start_s: int, count: int, *, shift: float, seed: int) -> None:
    """``count`` predictions of fraud 3 over the hour from ``start_s``; ``shift`` moves `amount`."""
    rng = np.random.default_rng(seed)
    predictions = []
    for i in range(count):
        prediction = prediction_service_pb2.Prediction(
            prediction_id=f"fraud-{start_s}-{i}",
            model=common_pb2.ModelRef(name="fraud", version="3"),
            time_unix_nano=start_s * NANOS + i * (HOUR * NANOS // count),
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
            assert stub.LogPredictions(batch, timeout=30, metadata=AUTH).accepted == len(batch.predictions)


def set_reference(target: str, start_s: int) -> None:
    """fraud 3's reference: the hour from ``start_s``."""
    with grpc.insecure_channel(target) as channel:
        references = finding_service_pb2_grpc.ReferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = finding_service_pb2.SetReferenceRequest(model=common_pb2.ModelRef(name="fraud", version="3"))
        request.range.start.FromSeconds(start_s)
        request.range.end.FromSeconds(start_s + HOUR)
        references.SetReference(request, timeout=30, metadata=AUTH)


def export_spans(target: str, now_s: int) -> None:
    """Ten minutes of fraud 3 inference spans through the OpenTelemetry SDK: 30 a minute, about 20 ms, a few
    errors."""
    exporter = OTLPSpanExporter(endpoint=target, insecure=True, headers={"authorization": f"Bearer {ADMIN}"})
    provider = TracerProvider(resource=Resource.create({"service.name": "scorer", "ml.hardware.class": "cpu"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
    tracer = provider.get_tracer("tests")
    rng = np.random.default_rng(7)
    for minute in range(10, 0, -1):
        for n in range(30):
            start = (now_s - minute * 60 + n) * NANOS
            span = tracer.start_span("predict", start_time=start)
            span.set_attribute("ml.model.name", "fraud")
            span.set_attribute("ml.model.version", "3")
            if n == 0:
                span.set_status(Status(StatusCode.ERROR, "timeout"))
            span.end(end_time=start + int(rng.lognormal(np.log(20.0), 0.2) * 1e6))
    assert provider.force_flush(timeout_millis=60_000)
    provider.shutdown()


def shadow_run(service: RunningService, tmp: Path) -> str:
    """Register a tiny iris model, record its inputs, and run `inferwatch shadow run`; the run's id."""
    model = iris_tiny_mlp(tmp)
    db_url = service.config.storage.db_url
    register = ["models", "register", "--name", "iris", "--version", "1", "--onnx", str(model.path)]
    assert main([*register, "--task", "classification", "--db-url", db_url]) == 0
    predictions = []
    for n in range(120):
        row = model.rows[n % len(model.rows)].astype(np.float32).reshape(1, -1)
        prediction = prediction_service_pb2.Prediction(
            prediction_id=f"iris-{n}",
            model=common_pb2.ModelRef(name="iris", version="1"),
            time_unix_nano=(1_763_000_000 + n) * NANOS,
        )
        prediction.raw_inputs[model.input_name].CopyFrom(
            common_pb2.Tensor(dtype=common_pb2.DATA_TYPE_FLOAT32, shape=list(row.shape), data=row.tobytes())
        )
        predictions.append(prediction)
    with grpc.insecure_channel(service.grpc_target) as channel:
        request = prediction_service_pb2.LogPredictionsRequest(predictions=predictions)
        assert prediction_stub(channel).LogPredictions(request, timeout=30, metadata=AUTH).accepted == 120
    assert service.service is not None
    assert service.service.writer is not None
    assert service.service.writer.flush(60)
    output = tmp / "shadow.json"
    run = ["shadow", "run", "--model", "iris", "--variants", "fp16", "--requests", "100", "--db-url", db_url]
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        assert main([*run, "--json", "--report", str(tmp / "report.html")]) == 0
    output.write_text(captured.getvalue())
    return str(json.loads(captured.getvalue())["run_id"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The service, filled as described in the module docstring; stopped after the module's tests."""
    tmp = tmp_path_factory.mktemp("site")
    receiver = Receiver()
    alerts = {
        "for": "0s",
        "keep_firing_for": "24h",
        "evaluation_interval": "0.2s",
        "route": {"receiver": "hook", "group_wait": "0s"},
        "receivers": {"hook": {"type": "webhook", "url": f"{receiver.url}/hook"}},
    }
    config = replace(
        loopback_config(f"sqlite:///{tmp / 'inferwatch.db'}", tmp / "spool"),
        auth=AuthConfig(ingest_tokens=(READER,), admin_tokens=(ADMIN,)),
        detectors=DetectorsConfig(detector_interval_s=3600),
        feature_sections={"alerts": alerts, "slo": {"fraud": {"latency_threshold_ms": 50, "latency_target": 0.99}}},
    )
    service = RunningService(config).start()
    try:
        assert service.service is not None
        assert service.service.writer is not None
        detectors = service.service.detectors
        assert detectors is not None
        assert detectors.first_pass_done.wait(30)
        now_s = int(time.time())
        hour = now_s // HOUR * HOUR
        send_predictions(service.grpc_target, hour - 3 * HOUR, 1500, shift=0.0, seed=1)
        send_predictions(service.grpc_target, hour - 2 * HOUR, 800, shift=1.0, seed=2)
        assert service.service.writer.flush(60)
        set_reference(service.grpc_target, hour - 3 * HOUR)
        drift = detectors.evaluate_once(now_s=hour - HOUR + detectors.options.drift.settle_s)
        assert any(f.detector == "drift.data" and f.firing for f in drift), drift
        export_spans(service.grpc_target, now_s)
        assert service.service.writer.flush(60)
        detectors.evaluate_once(now_s=now_s + detectors.options.rollup.settle_s)
        run_id = shadow_run(service, tmp)
        deadline = time.monotonic() + WAIT_S
        while not receiver.received() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.received(), "the drift alert did not reach the webhook"
        yield Site(service, receiver, run_id)
    finally:
        service.stop()
        receiver.close()
