"""Alerts through the real service: findings in the database, a notification at a real webhook, then the
AlertService over gRPC and `inferwatch alerts ...` on the same alerts."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from collector.cli.commands import main
from collector.core.config import Config
from collector.core.findings import store_findings
from collector.core.storage.engine import create_engine_for
from inferwatch.v1 import alert_service_pb2 as pb
from inferwatch.v1 import alert_service_pb2_grpc
from tests.alerts.conftest import Receiver, finding
from tests.integration.process_harness import start_serve
from tests.integration.service_harness import RunningService, loopback_config

WAIT_S = 30.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def service(
    db_url: str, tmp_path: Path, receiver: Receiver, start_service: Callable[[Config], RunningService]
) -> RunningService:
    """The service with a webhook receiver that hears of every alert at once."""
    alerts = {
        "for": "0s",
        "keep_firing_for": "1h",
        "evaluation_interval": "0.2s",
        "route": {"receiver": "hook", "group_wait": "0s", "group_by": ["alertname", "model"]},
        "receivers": {"hook": {"type": "webhook", "url": f"{receiver.url}/hook"}},
    }
    config = replace(loopback_config(db_url, tmp_path / "spool"), feature_sections={"alerts": alerts})
    return start_service(config)


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll until truthy: the dispatcher runs on its own interval."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def assert_evidence_opens(evidence: str, model: str) -> None:
    """The evidence link opens the finding's page; the same finding is JSON under /api/v1."""
    with urllib.request.urlopen(evidence, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert model in response.read().decode()
    with urllib.request.urlopen(evidence.replace("/findings/", "/api/v1/findings/"), timeout=10) as response:
        assert json.loads(response.read())["model"] == model


def test_finding_becomes_a_notified_alert_managed_over_grpc_and_cli(
    service: RunningService, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stored firing finding reaches the webhook; gRPC and the CLI list, ack, silence and unsilence it."""
    db_url = service.config.storage.db_url
    engine = create_engine_for(db_url)
    try:
        store_findings(engine, [finding(datetime.now(tz=UTC), model="svc")])
    finally:
        engine.dispose()
    (body,) = wait_for(receiver.received, "the webhook notification")
    (alert,) = body["alerts"]
    fingerprint = alert["fingerprint"]
    evidence = alert["annotations"]["evidence_url"]
    assert evidence.startswith(f"{service.http_base}/findings/")
    assert_evidence_opens(evidence, "svc")

    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = alert_service_pb2_grpc.AlertServiceStub(channel)  # type: ignore[no-untyped-call]
        listed = stub.ListAlerts(pb.ListAlertsRequest(labels={"model": "svc"}, include_silenced=True), timeout=10)
        assert [a.fingerprint for a in listed.alerts] == [fingerprint]
        assert listed.alerts[0].state == pb.ALERT_STATE_FIRING
        shown = wait_for(
            lambda: [
                d for d in stub.GetAlert(pb.GetAlertRequest(fingerprint=fingerprint)).deliveries if d.sent_at.seconds
            ],
            "the delivery log to say sent",
        )
        assert shown[0].state == pb.DELIVERY_STATE_SENT
        acked = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(fingerprint=fingerprint, by="anna", comment="on it"))
        assert acked.acknowledgement.by == "anna"
        silence = stub.CreateSilence(
            pb.CreateSilenceRequest(matchers=[pb.Matcher(name="model", value="svc", is_equal=True)], created_by="anna")
        )
        assert silence.status == "active"
        assert stub.GetAlert(pb.GetAlertRequest(fingerprint=fingerprint)).silenced_by == [silence.id]
        assert stub.ListAlerts(pb.ListAlertsRequest(labels={"model": "svc"})).alerts == []
        assert stub.ExpireSilence(pb.ExpireSilenceRequest(id=silence.id)).status == "expired"
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetAlert(pb.GetAlertRequest(fingerprint="nope"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    assert main(["alerts", "list", "--db-url", db_url, "--json"]) == 0
    listed_json = json.loads(capsys.readouterr().out)
    assert [a["fingerprint"] for a in listed_json["alerts"]] == [fingerprint]
    assert listed_json["alerts"][0]["acknowledgement"]["by"] == "anna"
    assert main(["alerts", "show", fingerprint, "--db-url", db_url]) == 0
    assert "deliveries:" in capsys.readouterr().out
    assert main(["alerts", "ack", fingerprint, "--by", "ben", "--db-url", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["acknowledgement"]["by"] == "ben"
    assert (
        main(["alerts", "silence", 'model="svc"', "--duration", "2h", "--by", "ben", "--db-url", db_url, "--json"]) == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert (created["matchers"], created["status"]) == (['model="svc"'], "active")
    assert main(["alerts", "silence", "--list", "--db-url", db_url, "--json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)["silences"]] == [created["id"]]
    assert main(["alerts", "unsilence", created["id"], "--db-url", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "expired"
    assert main(["alerts", "show", "nope", "--db-url", db_url]) == 1
    assert main(["alerts", "silence", "--db-url", db_url]) == 2


def test_an_inhibited_alert_names_its_inhibitor_over_grpc(service: RunningService) -> None:
    """A critical data drift inhibits a prediction drift warning of the same model (same detector family): the
    warning's gRPC Alert carries the inhibitor's fingerprint, name, severity and summary, as the JSON API does."""
    engine = create_engine_for(service.config.storage.db_url)
    now = datetime.now(tz=UTC)
    try:
        store_findings(
            engine,
            [
                finding(now, model="svc", detector="drift.data", subject="amount", severity="critical"),
                finding(now, model="svc", detector="drift.prediction", subject=""),
            ],
        )
    finally:
        engine.dispose()
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = alert_service_pb2_grpc.AlertServiceStub(channel)  # type: ignore[no-untyped-call]

        def both() -> dict[str, pb.Alert]:
            listed = stub.ListAlerts(pb.ListAlertsRequest(labels={"model": "svc"}, include_silenced=True), timeout=10)
            alerts = {alert.labels["severity"]: alert for alert in listed.alerts}
            return alerts if len(alerts) == 2 else {}

        alerts = wait_for(both, "both alerts")
    critical, warning = alerts["critical"], alerts["warning"]
    assert list(warning.inhibited_by) == [critical.fingerprint]
    assert [(i.fingerprint, i.alertname, i.severity, i.summary) for i in warning.inhibitors] == [
        (critical.fingerprint, "ModelDataDrift", "critical", critical.annotations["summary"])
    ]
    assert list(critical.inhibitors) == []


ALERTS_TOML = """
[alerts]
for = "0s"
keep_firing_for = "1h"
evaluation_interval = "0.1s"

[alerts.route]
receiver = "hook"
group_by = ["..."]
group_wait = "0s"

[alerts.receivers.hook]
type = "webhook"
url = "{url}/hook"
"""


@pytest.mark.postgres
def test_two_serve_processes_on_one_postgresql_notify_each_alert_once(
    fresh_postgres_url: Callable[[], str], receiver: Receiver, tmp_path: Path
) -> None:
    """Two `inferwatch serve` replicas on one database, racing on every pass, notify each alert exactly once."""
    db_url = fresh_postgres_url()
    processes = []
    for name in ("a", "b"):
        workdir = tmp_path / name
        workdir.mkdir()
        (workdir / "inferwatch.toml").write_text(ALERTS_TOML.format(url=receiver.url))
        processes.append(start_serve(workdir, db_url)[0])
    engine = create_engine_for(db_url)
    try:
        for batch in range(4):  # in several batches, so the replicas' passes interleave with new alerts
            now = datetime.now(tz=UTC)
            store_findings(engine, [finding(now, model=f"r{batch}-{n}") for n in range(5)])

            def arrived(prefix: str = f'"r{batch}-') -> bool:
                return any(prefix in json.dumps(body) for body in receiver.received())

            wait_for(arrived, f"batch {batch}")

        def all_sent() -> bool:
            with engine.connect() as connection:
                states = [row[0] for row in connection.execute(text("SELECT state FROM alert_deliveries"))]
            return len(states) >= 20 and set(states) == {"sent"}

        wait_for(all_sent, "every delivery to be marked sent")
    finally:
        engine.dispose()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()  # never leave a server behind for the next test
                process.wait(30)
    models = Counter(alert["labels"]["model"] for body in receiver.received() for alert in body["alerts"])
    assert models == {f"r{batch}-{n}": 1 for batch in range(4) for n in range(5)}
