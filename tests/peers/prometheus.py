"""A real Prometheus (Debian's package) on loopback for the tests: started once, pointed at targets by reload."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

INSTALL = Path(__file__).resolve().parent / "install_prometheus.sh"
WAIT_S = 60.0
# Short enough that a test sees a few scrapes and rule evaluations within seconds.
SCRAPE_INTERVAL = "1s"


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll until ``condition`` is truthy; Prometheus scrapes and evaluates on its own timers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}", pytrace=False)


def install() -> tuple[str, str] | str:
    """The prometheus and promtool binaries, installed by install_prometheus.sh if missing; else why not."""
    result = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=600, check=False)
    server, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if result.returncode != 0 or server is None or promtool is None:
        return f"cannot install prometheus: {result.stderr.strip() or result.stdout.strip()}"
    return server, promtool


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Prometheus:
    """One Prometheus process; ``scrape`` points it at a target (and rule files) by rewriting its config."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self._binary = binary
        self._workdir = workdir
        self._config = workdir / "prometheus.yml"
        self._log = workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Prometheus:
        """Start on a free port and wait until ready; a lost race for the port is retried."""
        self._write_config([], [])
        for _attempt in range(3):
            port = _free_port()
            with self._log.open("w") as log:
                self._process = subprocess.Popen(
                    [
                        self._binary,
                        f"--config.file={self._config}",
                        f"--storage.tsdb.path={self._workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--web.enable-lifecycle",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.url = f"http://127.0.0.1:{port}"
            if wait_for(self._ready_or_exited, "prometheus to be ready") == "ready":
                return self
            if "address already in use" not in self._log.read_text():
                break
        pytest.fail(f"prometheus exited: {self._log.read_text()}")

    def _ready_or_exited(self) -> str | None:
        assert self._process is not None
        if self._process.poll() is not None:
            return "exited"
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return "ready" if response.status == 200 else None
        except OSError:
            return None

    def stop(self) -> None:
        """Terminate and wait."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(30)

    def _write_config(self, targets: Sequence[str], rule_files: Sequence[Path]) -> None:
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": "inferwatch", "static_configs": [{"targets": list(targets)}]}]
            if targets
            else [],
        }
        self._config.write_text(json.dumps(config))  # JSON is YAML

    def scrape(self, target: str, rule_files: Sequence[Path] = ()) -> None:
        """Scrape ``target`` (host:port, path /metrics) from now on, evaluating ``rule_files``; a bad rule file
        fails the reload, and so the test."""
        self._write_config([target], rule_files)
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            pytest.fail(f"prometheus refused its new configuration: {error.read().decode()}", pytrace=False)
        wait_for(lambda: self.target_health(target) == "up", f"prometheus to scrape {target}")

    def api(self, path: str, **params: str | Sequence[str]) -> Any:
        """GET an HTTP API path and return its ``data``; an error answer fails the test with Prometheus's words."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            pytest.fail(f"prometheus answered {error.code} to {path} {params}: {error.read().decode()}", pytrace=False)
        return body["data"]

    def target_health(self, target: str) -> str | None:
        """``up``, ``down`` or ``unknown`` for a scraped target; None when it is not a target (yet)."""
        for active in self.api("targets")["activeTargets"]:
            if active["labels"].get("instance") == target:
                return str(active["health"])
        return None

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        return list(self.api("query", query=expr)["result"])

    def query_range(self, expr: str, start_s: float, end_s: float, step_s: float) -> list[dict[str, Any]]:
        """A range query's result matrix, as Grafana asks for a panel."""
        data = self.api("query_range", query=expr, start=f"{start_s:.3f}", end=f"{end_s:.3f}", step=f"{step_s:g}")
        return list(data["result"])
