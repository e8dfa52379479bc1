"""Fixtures for the alert tests: a controllable clock, migrated databases, findings, real HTTP receivers, and a
real Prometheus Alertmanager (installed by tests/peers/install_alertmanager.sh, one shared per session)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.findings import store_findings
from collector.core.storage.engine import create_engine_for

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move forward and return the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    """Starts at T0."""
    return Clock()


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of each backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def finding(
    at: datetime,
    *,
    firing: bool = True,
    model: str = "fraud",
    detector: str = "latency",
    severity: str = "warning",
    subject: str = "predict",
    value: float = 850.0,
) -> Finding:
    """A finding for the minute ending at ``at``."""
    return Finding(
        detector=detector,
        model_name=model,
        model_version="3",
        subject=subject,
        severity=severity if firing else "info",
        firing=firing,
        window_start=at - timedelta(minutes=1),
        window_end=at,
        summary=f"p99 latency of {subject} is {value:.0f} ms, expected 200 ms",
        value=value,
        expected=200.0,
        band_low=150.0,
        band_high=260.0,
    )


Store = Callable[..., None]


@pytest.fixture
def store(engine: Engine) -> Store:
    """Store a finding as the detector scheduler would: ``store(at, firing=..., model=...)``."""

    def put(at: datetime, **kwargs: Any) -> None:
        store_findings(engine, [finding(at, **kwargs)])

    return put


class Receiver:
    """A real HTTP server on loopback that records JSON bodies; ``status`` makes it answer errors.

    With ``hold`` set, every request is held open (``entered`` is set) until ``hold`` is released, as a chat
    service in an outage holds connections until the client's timeout.
    """

    def __init__(self, hold: bool = False) -> None:
        self.bodies: list[Any] = []
        self.paths: list[str] = []
        self.status = 200
        self.refused = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                outer.entered.set()
                outer.release.wait(20)
                with outer._lock:
                    status = outer.status
                    if status < 300:
                        outer.bodies.append(json.loads(body))
                        outer.paths.append(self.path)
                    else:
                        outer.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[Any]:
        """Accepted bodies, oldest first."""
        with self._lock:
            return list(self.bodies)

    def close(self) -> None:
        """Stop serving (letting held requests go) and free the port."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, port chosen by the OS."""
    server = Receiver()
    yield server
    server.close()


INSTALL = Path(__file__).resolve().parents[1] / "peers" / "install_alertmanager.sh"
WAIT_S = 60.0


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll until ``condition`` is truthy; Alertmanager works on its own timers, so tests wait, not assert, on time."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {WAIT_S:g} s waiting for {what}")


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    """The prometheus-alertmanager binary, installed by tests/peers/install_alertmanager.sh if missing."""
    result = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=600, check=False)
    binary = shutil.which("prometheus-alertmanager")
    if result.returncode != 0 or binary is None:
        reason = f"cannot install prometheus-alertmanager: {result.stderr.strip() or result.stdout.strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (required under CI)", pytrace=False)
        pytest.skip(reason)
    return binary


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_alertmanager(binary: str, config: Path, data: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start Alertmanager on a free port and wait until it is ready; a lost race for the port is retried.

    The port is free when probed, but another process can bind it before Alertmanager does; it then exits
    with "address already in use", and a new port is tried.
    """
    for _attempt in range(3):
        port = free_port()
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.path={data}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"

        def ready(process: subprocess.Popen[bytes] = process, url: str = url) -> bool | str:
            if process.poll() is not None:
                return "exited"
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        if wait_for(ready, "alertmanager to be ready") is True:
            return process, url
        if "address already in use" not in log_path.read_text():
            break
    pytest.fail(f"alertmanager exited: {log_path.read_text()}")


@pytest.fixture(scope="session")
def shared_alertmanager(alertmanager_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Alertmanager for the whole session, for tests that only post to it and read its API; yields its URL.

    It notifies nobody (its one receiver has no integrations), so tests never see each other's notifications.
    """
    folder = tmp_path_factory.mktemp("shared-alertmanager")
    config = {"route": {"receiver": "nobody"}, "receivers": [{"name": "nobody"}]}
    (folder / "am.yml").write_text(json.dumps(config))  # JSON is YAML
    process, url = start_alertmanager(alertmanager_binary, folder / "am.yml", folder / "data", folder / "am.log")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)
