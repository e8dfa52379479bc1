"""`inferwatch serve` as a real process: it starts on port 0, answers, and stops cleanly on signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.process_harness import read_until, start_serve


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    """The process serves gRPC health and /healthz, then exits 0 on SIGTERM or SIGINT."""
    process, grpc_port, http_port = start_serve(tmp_path)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10) as response:
            assert response.status == 200
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signum)
        read_until(process, re.compile(r"\bstopped\b"), timeout_s=30)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
    assert (tmp_path / "served.db").exists()


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    """A second server on the same gRPC port fails at start with a message naming the address."""
    first, grpc_port, _ = start_serve(tmp_path)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "collector.cli",
                "serve",
                "--grpc-addr",
                f"127.0.0.1:{grpc_port}",
                "--otlp-http-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--db-url",
                f"sqlite:///{tmp_path / 'second.db'}",
            ],
            cwd=second_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert second.returncode == 1
    assert f"cannot listen for gRPC on 127.0.0.1:{grpc_port}" in second.stderr
