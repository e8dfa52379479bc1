"""Runs `inferwatch serve` as a real child process on loopback port 0."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SERVING_LINE = re.compile(r"gRPC on 127\.0\.0\.1:(\d+), HTTP on 127\.0\.0\.1:(\d+)")


# One reader thread per process keeps its stderr drained (a full pipe would block the server) and hands the
# lines to read_until. Selecting on the pipe and then calling readline() loses lines: readline() may pull
# several into Python's buffer, where the next select() cannot see them.
_STDERR_LINES: dict[int, queue.Queue[str | None]] = {}


def _stderr_lines(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines = _STDERR_LINES.get(process.pid)
    if lines is None:
        lines = _STDERR_LINES[process.pid] = queue.Queue()
        stream = process.stderr
        assert stream is not None

        def pump() -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name=f"stderr-{process.pid}", daemon=True).start()
    return lines


def read_until(process: subprocess.Popen[str], pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
    """Read the process's stderr line by line until ``pattern`` matches; fail with what it printed."""
    lines = _stderr_lines(process)
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if match := pattern.search(line):
            return match
    process.kill()
    pytest.fail("expected output never came; the process printed:\n" + "".join(seen))


def start_serve(workdir: Path, db_url: str | None = None, *extra: str) -> tuple[subprocess.Popen[str], int, int]:
    """Start `inferwatch serve` in ``workdir`` (its spool lives there); return it and its gRPC and HTTP ports."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INFERWATCH_")}
    env["INFERWATCH_DB_URL"] = db_url or f"sqlite:///{workdir / 'served.db'}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            *extra,
        ],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    match = read_until(process, SERVING_LINE, timeout_s=60)
    return process, int(match.group(1)), int(match.group(2))
