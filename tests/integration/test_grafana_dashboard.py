"""The shipped Grafana dashboard and Prometheus rules against a real Prometheus scraping a real `inferwatch serve`.

Spans arrive through the OpenTelemetry SDK's OTLP exporter, predictions and a drift reference through the
inferwatch.v1 gRPC API; Prometheus (Debian's package) scrapes /metrics every second and evaluates the rules
file. Every expression is read from the shipped files, so a new panel or rule is checked without touching
this test: each panel query must return data over the test's time range, the model variable must list the
model, and every rule must evaluate without error and fire on data made to fire it.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from inferwatch.v1 import common_pb2, finding_service_pb2, finding_service_pb2_grpc, prediction_service_pb2
from tests.integration.ingest_helpers import prediction_stub
from tests.integration.process_harness import start_serve
from tests.peers import prometheus as peer
from tests.peers.prometheus import Prometheus, wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "inferwatch.json"
RULES = ROOT / "deploy" / "prometheus" / "inferwatch-rules.yml"
NANOS = 1_000_000_000
MODEL = "fraud"
SPANS_PER_WAVE = 200
# How long a query may take to show data once the data is in: a few scrapes and rule evaluations.
SETTLE_S = 20.0
# What Grafana puts in for its variables; `version` is the "All" choice.
VARIABLES = {"$__rate_interval": "1m", "$model": MODEL, "$version": ".*"}

# Detectors and the metrics refresh every second; SLOs that the spans (100 ms, 30% errors) break; drift windows
# of 10 minutes judged at once; alerts that fire on the first firing finding.
CONFIG = """
[detectors]
detector_interval_s = 1

[slo.fraud]
latency_threshold_ms = 50
latency_target = 0.99
availability_target = 0.999

[drift]
window_s = 600
step_s = 60
settle_s = 0
min_count = 100

[alerts]
for = "0s"
evaluation_interval = "1s"
"""


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """One Prometheus for the session, installed by tests/peers/install_prometheus.sh if missing."""
    installed = peer.install()
    if isinstance(installed, str):
        if os.environ.get("CI"):
            pytest.fail(f"{installed} (required under CI)", pytrace=False)
        pytest.skip(installed)
    server = Prometheus(installed[0], tmp_path_factory.mktemp("prometheus")).start()
    yield server
    server.stop()


@pytest.fixture
def promtool() -> str:
    """promtool, installed with the server."""
    installed = peer.install()
    if isinstance(installed, str):
        if os.environ.get("CI"):
            pytest.fail(f"{installed} (required under CI)", pytrace=False)
        pytest.skip(installed)
    return installed[1]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """`inferwatch serve` as a child process with CONFIG; yields its gRPC and HTTP ports."""
    (tmp_path / "inferwatch.toml").write_text(CONFIG)
    process, grpc_port, http_port = start_serve(tmp_path)
    try:
        yield grpc_port, http_port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def export_spans(target: str, count: int) -> None:
    """``count`` spans of MODEL version 1 on CPU through the SDK's OTLP exporter: 100 ms each, 30% errors."""
    provider = TracerProvider(resource=Resource.create({"service.name": "scorer", "ml.hardware.class": "cpu"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=target, insecure=True)))
    tracer = provider.get_tracer("tests")
    end = time.time_ns()
    for number in range(count):
        span = tracer.start_span("predict", start_time=end - 100_000_000)
        span.set_attribute("ml.model.name", MODEL)
        span.set_attribute("ml.model.version", "1")
        if number % 10 < 3:
            span.set_status(Status(StatusCode.ERROR, "model failed"))
        span.end(end_time=end)
    assert provider.force_flush(timeout_millis=30_000)
    provider.shutdown()


def log_predictions(target: str, start_s: float, seconds: int, *, shift: float) -> None:
    """One prediction a second from ``start_s``: amount ~ N(100 + 40 shift, 10), age ~ N(40, 10)."""
    rng = np.random.default_rng(int(shift * 10) + 1)
    predictions = []
    for second in range(seconds):
        prediction = prediction_service_pb2.Prediction(
            prediction_id=f"{shift}-{second}",
            model=common_pb2.ModelRef(name=MODEL, version="1"),
            time_unix_nano=int((start_s + second) * NANOS),
        )
        prediction.features["amount"].number = float(rng.normal(100 + 40 * shift, 10))
        prediction.features["age"].number = float(rng.normal(40, 10))
        prediction.output.label = "ok"
        predictions.append(prediction)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_stub(channel)
        for first in range(0, len(predictions), 500):
            stub.LogPredictions(
                prediction_service_pb2.LogPredictionsRequest(predictions=predictions[first : first + 500]), timeout=30
            )


def set_reference(target: str, start_s: int, end_s: int) -> bool:
    """Make ``[start_s, end_s)`` MODEL's drift reference; False while its predictions are not written yet."""
    request = finding_service_pb2.SetReferenceRequest(model=common_pb2.ModelRef(name=MODEL, version="1"))
    request.range.start.FromSeconds(start_s)
    request.range.end.FromSeconds(end_s)
    with grpc.insecure_channel(target) as channel:
        stub = finding_service_pb2_grpc.ReferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            return bool(stub.SetReference(request, timeout=30).row_count > 0)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return False
            raise


def substitute(expr: str) -> str:
    """A dashboard expression with Grafana's variables filled in as Grafana would."""
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a Grafana variable this test does not know in: {expr}"
    return expr


def panel_targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (panel title, expression) in the dashboard, rows included."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner["title"], target["expr"]) for target in inner.get("targets", [])]
    return found


def has_data(series: list[dict[str, Any]]) -> bool:
    """Whether a range query's result holds at least one finite value."""
    return any(math.isfinite(float(value)) for one in series for _, value in one["values"])


def until_all_have_data(named: list[tuple[str, str]], has: Callable[[str], object]) -> list[str]:
    """Poll the expressions until each has had data once, or SETTLE_S passed; the names of those that never did."""
    waiting = dict(named)
    deadline = time.monotonic() + SETTLE_S
    while waiting and time.monotonic() < deadline:
        waiting = {name: expr for name, expr in waiting.items() if not has(expr)}
        time.sleep(0.5)
    return list(waiting)


def total_requests(server: Prometheus) -> float:
    """MODEL's requests as Prometheus last scraped them."""
    result = server.query(f'sum(inferwatch_model_requests_total{{model="{MODEL}"}})')
    return float(result[0]["value"][1]) if result else 0.0


def test_every_dashboard_query_and_rule_returns_data(
    prometheus: Prometheus, promtool: str, serve: tuple[int, int]
) -> None:
    """Each panel's query returns data, the model variable lists the model, every rule fires; promtool agrees."""
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    grpc_port, http_port = serve
    target = f"127.0.0.1:{grpc_port}"
    began = time.time()
    prometheus.scrape(f"127.0.0.1:{http_port}", [RULES])

    # Drift: a reference half an hour back, shifted predictions over the last 20 minutes (whatever 10-minute
    # window is latest, it is full of them). Logged first, so they are written before the reference exists.
    now = int(began)
    log_predictions(target, now - 1200, 1200, shift=1.0)
    log_predictions(target, now - 2400, 600, shift=0.0)
    wait_for(lambda: set_reference(target, now - 2400, now - 1800), "the reference predictions to be written")

    # Two waves: rate() needs an increase between two scrapes.
    export_spans(target, SPANS_PER_WAVE)
    wait_for(lambda: total_requests(prometheus) == SPANS_PER_WAVE, "the first wave on /metrics")
    export_spans(target, SPANS_PER_WAVE)
    wait_for(lambda: total_requests(prometheus) == 2 * SPANS_PER_WAVE, "the second wave on /metrics")
    drifted = f'inferwatch_model_drifted_features{{model="{MODEL}", detector="drift.data"}} > 0'
    wait_for(lambda: prometheus.query(drifted), drifted)
    alerting = f'inferwatch_model_alerts_firing{{model="{MODEL}", alertname="ModelDataDrift"}}'
    wait_for(lambda: prometheus.query(alerting), alerting)

    # A rate needs the second wave in two scrapes; a few seconds more lets every panel catch up.
    dashboard = json.loads(DASHBOARD.read_text())
    targets = panel_targets(dashboard)
    assert len(targets) >= 10
    empty = until_all_have_data(
        [(f"{title}: {expr}", substitute(expr)) for title, expr in targets],
        lambda expr: has_data(prometheus.query_range(expr, began, time.time(), 1)),
    )
    assert not empty, "panel queries without data:\n" + "\n".join(empty)

    # The numbers are the spans' own: 30% errors, 100 ms each, against a 99.9% availability SLO (300x burn).
    assert float(prometheus.query(substitute(dict(targets)["Error ratio"]))[0]["value"][1]) == pytest.approx(0.3)
    p99 = prometheus.query(f'inferwatch_model_latency_seconds{{model="{MODEL}", quantile="0.99"}}')
    assert float(p99[0]["value"][1]) == pytest.approx(0.1, rel=0.01)
    burn = prometheus.query(f'inferwatch_model_slo_burn_rate{{model="{MODEL}", slo="availability@99.9%", window="5m"}}')
    assert float(burn[0]["value"][1]) == pytest.approx(300.0)

    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["model"]["type"] == "query"
    for name, must_list in (("model", MODEL), ("version", "1")):
        selector, label = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["definition"]).groups()  # type: ignore[union-attr]
        assert must_list in prometheus.api(f"label/{label}/values", **{"match[]": substitute(selector)})

    def evaluated_rules() -> list[dict[str, Any]] | None:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        return rules if rules and all(not rule["lastEvaluation"].startswith("0001") for rule in rules) else None

    rules = wait_for(evaluated_rules, "every rule to be evaluated")
    assert len(rules) == len(re.findall(r"^\s+- (?:alert|record): ", RULES.read_text(), flags=re.MULTILINE))
    broken = [f"{rule['name']}: {rule.get('lastError')}" for rule in rules if rule["health"] != "ok"]
    assert not broken, broken
    silent = until_all_have_data([(rule["name"], rule["query"]) for rule in rules], prometheus.query)
    assert not silent, f"rules that do not fire on data made to fire them: {silent}"
