"""Runs the writer process (``collector.writer``) for the serving process, and restarts it if it dies.

The parent keeps the spool's appending side and learns from the child's reports how far the database has
caught up, which is what frees spool capacity. On shutdown it closes the child's stdin, so the child drains
the spool and exits; past ``drain_timeout_s`` it stops the child, and what is left is written at next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

from collector.errors import InferwatchError
from collector.metrics import ServiceMetrics
from collector.spool import Spool, SpoolPosition

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 1.0


class BatchWriter:
    """The writer child process as an async context manager: started on enter, drained on exit."""

    def __init__(
        self,
        spool: Spool,
        db_url: str,
        metrics: ServiceMetrics,
        *,
        drain_timeout_s: float = 30.0,
        log_level: str = "info",
    ) -> None:
        self._spool = spool
        self._db_url = db_url
        self._metrics = metrics
        self._drain_timeout_s = drain_timeout_s
        self._log_level = log_level
        self._process: subprocess.Popen[bytes] | None = None
        self._monitor: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self.last_error: str | None = None
        metrics.spool_pending_bytes.set_function(lambda: spool.pending_bytes)

    async def __aenter__(self) -> BatchWriter:
        self._spawn()
        ready = await asyncio.to_thread(self._ready.wait, START_TIMEOUT_S)
        if not ready:
            await self._stop()
            raise InferwatchError("the database writer process did not start; see its log lines above")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything appended so far is committed; True if it was within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._spool.pending_bytes:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _spawn(self) -> None:
        self._ready.clear()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector.writer",
                "--spool-dir",
                str(self._spool.directory),
                "--db-url",
                self._db_url,
                "--log-level",
                self._log_level,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._monitor = threading.Thread(
            target=self._watch, args=(self._process,), name="inferwatch-writer-monitor", daemon=True
        )
        self._monitor.start()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """Turn the child's reports into metrics and spool capacity; restart it if it dies on its own."""
        assert process.stdout is not None
        for line in process.stdout:
            self._handle(json.loads(line))
        code = process.wait()
        self._spool.refresh_committed()
        if self._stopping.is_set():
            return
        logger.error("database writer process exited with status %s; restarting it in %g s", code, RESTART_DELAY_S)
        self._metrics.writer_errors.inc()
        if not self._stopping.wait(RESTART_DELAY_S):
            self._spawn()

    def _handle(self, event: dict[str, Any]) -> None:
        if event.get("ready"):
            self._ready.set()
        if "committed" in event:
            segment, offset = event["committed"]
            self._spool.note_committed(SpoolPosition(segment, offset))
            self._metrics.writer_commit_seconds.observe(event["seconds"])
            for table, count in event["rows"].items():
                self._metrics.rows_stored.labels(table=table).inc(count)
            for table, count in event["dropped"].items():
                self._metrics.rows_dropped.labels(table=table).inc(count)
            self.last_error = None
        if "error" in event:
            self._metrics.writer_errors.inc()
            self.last_error = event["error"]

    async def _stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the child drains the spool, then exits
        try:
            await asyncio.to_thread(process.wait, self._drain_timeout_s)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        if self._monitor is not None:
            await asyncio.to_thread(self._monitor.join, 10)
        self._spool.refresh_committed()
        left = self._spool.pending_bytes
        if left:
            logger.error(
                "the database did not take the buffered records within %g s; %d bytes stay in the spool and "
                "are written at the next start",
                self._drain_timeout_s,
                left,
            )
