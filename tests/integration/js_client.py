"""The OpenTelemetry JavaScript SDK as a test client: Node.js from the machine, packages pinned in a lock file.

``npm ci`` installs exactly what ``tests/integration/js/package-lock.json`` pins, once per test session and
only when the lock changed. Without Node.js the tests skip with a message, except under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"
_INSTALLED_STAMP = JS_DIR / "node_modules" / ".inferwatch-installed-lock"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the JavaScript client tests need it under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def ensure_js_client() -> Path:
    """The folder of the JavaScript client with its packages installed; skips (fails under CI) without Node.js."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("Node.js and npm are not on PATH")
    lock = (JS_DIR / "package-lock.json").read_bytes()
    if not _INSTALLED_STAMP.exists() or _INSTALLED_STAMP.read_bytes() != lock:
        completed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if completed.returncode != 0:
            _unavailable(f"npm ci failed: {completed.stderr.strip()[-500:]}")
        _INSTALLED_STAMP.write_bytes(lock)
    return JS_DIR


def export_spans_with_js(endpoint: str, protocol: str, count: int, model: str) -> subprocess.CompletedProcess[str]:
    """Run ``export_spans.js``: ``count`` spans of ``model`` over OTLP/HTTP, ``protocol`` "proto" or "json"."""
    return subprocess.run(
        ["node", "export_spans.js", endpoint, protocol, str(count), model],
        cwd=ensure_js_client(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
