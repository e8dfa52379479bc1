"""The service skeleton end to end: gRPC health and reflection, HTTP health, readiness and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from sqlalchemy.exc import OperationalError

from collector.core.config import Config
from collector.core.storage.migrate import downgrade
from tests.integration.http_helpers import http_get, http_json
from tests.integration.service_harness import RunningService, loopback_config, postgres_refusing_connections


def test_grpc_health_check_reports_serving(running_service: RunningService) -> None:
    """The standard grpc.health.v1 Check answers SERVING for the whole server."""
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_health_check_unknown_service_is_not_found(running_service: RunningService) -> None:
    """Asking about a service the server does not have is NOT_FOUND, not a false SERVING."""
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_reflection_lists_health(running_service: RunningService) -> None:
    """Server reflection works, so grpcurl and friends can explore the API."""
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "grpc.health.v1.Health" in services


def test_healthz_is_ok(running_service: RunningService) -> None:
    """/healthz answers 200 while the process is up."""
    status, body = http_json(running_service.http_base + "/healthz")
    assert (status, body) == (200, {"status": "ok"})


def test_readyz_is_ready_after_start(running_service: RunningService) -> None:
    """/readyz is 200 once the database is reachable and migrated to head."""
    status, body = http_json(running_service.http_base + "/readyz")
    assert status == 200
    assert body == {"status": "ready", "checks": {"writer": "ok", "database": "ok", "migrations": "ok"}}


def _downgrade_under_load(db_url: str) -> None:
    """Downgrade to base while the service's passes run. On PostgreSQL a pass that read one table and waits
    for another the downgrade has dropped is a deadlock, which PostgreSQL breaks by aborting one side; the
    downgrade is one transaction, so it is simply run again, as an operator would."""
    for attempt in range(5):
        try:
            downgrade(db_url, "base")
            return
        except OperationalError as error:
            if "deadlock detected" not in str(error) or attempt == 4:
                raise
            time.sleep(0.2)


def test_readyz_is_not_ready_when_schema_is_behind(running_service: RunningService) -> None:
    """/readyz says 503 and why when the schema is not at the head revision."""
    _downgrade_under_load(running_service.config.storage.db_url)
    status, body = http_json(running_service.http_base + "/readyz")
    assert status == 503
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].startswith("at no revision, head is ")


@pytest.mark.postgres
def test_readyz_is_not_ready_while_the_database_refuses_connections(
    fresh_postgres_url: Callable[[], str], tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """/readyz says 503 and why while PostgreSQL refuses connections, and 200 again once it takes them."""
    db_url = fresh_postgres_url()
    service = start_service(loopback_config(db_url, tmp_path / "spool"))
    with postgres_refusing_connections(db_url):
        status, body = http_json(service.http_base + "/readyz")
        assert status == 503
        assert body["checks"]["database"].startswith("unreachable: OperationalError")
        assert body["checks"]["migrations"] == "unknown: database unreachable"
    status, _ = http_json(service.http_base + "/readyz")
    assert status == 200


def test_metrics_expose_build_info_and_grpc_calls(running_service: RunningService) -> None:
    """/metrics is Prometheus text with build info and the gRPC calls the server answered."""
    with grpc.insecure_channel(running_service.grpc_target) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    http_get(running_service.http_base + "/readyz")
    status, body, headers = http_get(running_service.http_base + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert 'inferwatch_build_info{version="' in body
    assert 'inferwatch_grpc_server_handled_total{code="OK",method="/grpc.health.v1.Health/Check"} 1.0' in body
    assert "inferwatch_ready 1.0" in body
    assert 'inferwatch_http_requests_total{route="/readyz",status="200"} 1.0' in body


def test_start_up_logs_the_configuration_receivers_and_slos(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService], caplog: pytest.LogCaptureFixture
) -> None:
    """At start the log says which configuration file it read, where alerts go and which SLOs it watches."""
    sections = {
        "alerts": {
            "route": {"receiver": "pager", "routes": [{"receiver": "chat", "matchers": ['severity="info"']}]},
            "receivers": {
                "pager": {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
                "chat": {"type": "webhook", "url": "http://127.0.0.1:9/chat"},
            },
        },
        "slo": {"fraud": {"latency_threshold_ms": 300, "latency_target": 0.99, "availability_target": 0.999}},
    }
    with caplog.at_level(logging.INFO, logger="collector.service.app"):
        start_service(replace(loopback_config(db_url, tmp_path / "spool"), feature_sections=sections))
    messages = [record.getMessage() for record in caplog.records if record.name == "collector.service.app"]
    assert "configuration: no file (defaults and INFERWATCH_* environment)" in messages
    assert "alert receivers: chat (webhook), pager (webhook); 2 route(s)" in messages
    assert "SLOs: fraud latency 0.99 under 300 ms, fraud availability 0.999" in messages


def test_start_up_warns_when_open_beyond_loopback_without_tokens(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService], caplog: pytest.LogCaptureFixture
) -> None:
    """Bound to every address with no token set, the service says so at start, naming the listener."""
    config = loopback_config(db_url, tmp_path / "spool", http_addr="0.0.0.0:0")
    with caplog.at_level(logging.INFO, logger="collector.service.app"):
        start_service(config)
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name == "collector.service.app" and "[auth]" in record.getMessage()
    ]
    assert len(warnings) == 1
    assert "HTTP (pages and JSON API) on 0.0.0.0:0 listen beyond loopback" in warnings[0]
