"""Runs the writer process (``collector.ingest.writer``) for the serving process, and restarts it if it dies.

The parent keeps the spool's appending side and learns from the child's reports how far the database has
caught up, which is what frees spool capacity. On shutdown it closes the child's stdin, so the child drains
the spool and exits; past ``drain_timeout_s`` it stops the child, and what is left is written at next start.

A child that keeps dying is a crash loop: ``problem`` says so (``/readyz`` answers 503 with it), and after
``QUARANTINE_AFTER`` deaths without a commit in between, the next child first sets aside the spool record
it would have died on (``--quarantine-first``), so one record cannot hold back everything behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

from collector.core.errors import InferwatchError
from collector.core.metrics import ServiceMetrics
from collector.ingest.spool import Spool, SpoolPosition
from collector.ingest.writer import DB_URL_ENV

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 1.0
# Deaths within CRASH_LOOP_WINDOW_S that make the writer "not ready"; deaths in a row without a commit
# between them that make the next child set the first pending spool record aside.
CRASH_LOOP_DEATHS = 3
CRASH_LOOP_WINDOW_S = 120.0
QUARANTINE_AFTER = 3


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
        self._deaths: list[float] = []
        self._deaths_without_commit = 0
        self._last_exit: str = ""
        self._committed_since_death = True
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

    @property
    def problem(self) -> str | None:
        """Why the writer cannot be trusted to store what is acknowledged now, or None when it can."""
        recent = [death for death in self._deaths if death > time.monotonic() - CRASH_LOOP_WINDOW_S]
        # A commit after the last death means the loop is broken (the bad record was set aside).
        if len(recent) >= CRASH_LOOP_DEATHS and not self._committed_since_death:
            return (
                f"the database writer process died {len(recent)} times in the last {CRASH_LOOP_WINDOW_S:g} s "
                f"({self._last_exit}); see its log lines"
            )
        return None

    def _spawn(self, quarantine_reason: str | None = None) -> None:
        self._ready.clear()
        command = [
            sys.executable,
            "-m",
            "collector.ingest.writer",
            "--spool-dir",
            str(self._spool.directory),
            "--log-level",
            self._log_level,
        ]
        if quarantine_reason:
            command += ["--quarantine-first", quarantine_reason]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # The URL may hold a password: the environment is private to the user, argv is not.
            env={**os.environ, DB_URL_ENV: self._db_url},
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
        self._deaths = [*self._deaths[-CRASH_LOOP_DEATHS * 4 :], time.monotonic()]
        self._deaths_without_commit += 1
        self._committed_since_death = False
        self._last_exit = f"last exit status {code}"
        self._metrics.writer_restarts.inc()
        quarantine = None
        if self._deaths_without_commit >= QUARANTINE_AFTER and self._spool.pending_bytes:
            quarantine = f"the database writer process died {self._deaths_without_commit} times in a row on it"
            self._deaths_without_commit = 0
        logger.error(
            "database writer process exited with status %s; restarting it in %g s%s",
            code,
            RESTART_DELAY_S,
            " and setting aside the spool record it keeps dying on" if quarantine else "",
        )
        if not self._stopping.wait(RESTART_DELAY_S):
            self._spawn(quarantine)

    def _handle(self, event: dict[str, Any]) -> None:
        if event.get("ready"):
            self._ready.set()
        if "committed" in event:
            segment, offset = event["committed"]
            self._spool.note_committed(SpoolPosition(segment, offset))
            self._metrics.writer_commit_seconds.observe(event["seconds"])
            for table, count in event["rows"].items():
                self._metrics.rows_stored.labels(table=table).inc(count)
            for table, count in event["dead_lettered"].items():
                self._metrics.rows_dead_lettered.labels(table=table).inc(count)
            self._metrics.outcomes_without_prediction.inc(event.get("unmatched_outcomes", 0))
            self.last_error = None
            self._deaths_without_commit = 0
            self._committed_since_death = True
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
