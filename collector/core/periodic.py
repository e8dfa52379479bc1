"""A blocking pass run in a worker thread on an interval: what the detector scheduler and the alert dispatcher share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

logger = logging.getLogger(__name__)

# Told after every pass: the pass's name, its seconds, and whether it succeeded (for the service's metrics).
PassObserver = Callable[[str, float, bool], None]


class PeriodicPass:
    """Runs ``run`` off the event loop every ``interval_s`` until left; an async context manager.

    Leaving it is not a cancel: a pass runs in a worker thread that a cancel would leave running on an engine
    the composition root is about to dispose. The pass in flight finishes; no new one starts. A pass that
    raises is logged and retried at the next interval, so one outage does not stop the work for good.
    """

    def __init__(
        self, name: str, run: Callable[[], object], interval_s: float, observer: PassObserver | None = None
    ) -> None:
        self.name = name
        self._run = run
        self.interval_s = interval_s
        self._observer = observer
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Set once the first pass has ended, so a caller can tell that no pass is about to start.
        self.first_pass_done = threading.Event()

    async def __aenter__(self) -> PeriodicPass:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=self.name)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            began = time.perf_counter()
            ok = False
            try:
                await asyncio.to_thread(self._run)
                ok = True
            except Exception:
                logger.exception("%s pass failed; retrying at the next interval", self.name)
            if self._observer is not None:
                self._observer(self.name, time.perf_counter() - began, ok)
            self.first_pass_done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)


class RunsPeriodically:
    """Base of a service whose work is one ``PeriodicPass`` (set as ``self._periodic`` in ``__init__``): entering
    the service starts the pass, leaving it lets the pass in flight finish and starts no other."""

    _periodic: PeriodicPass

    async def __aenter__(self) -> Self:
        await self._periodic.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._periodic.__aexit__(exc_type, exc, traceback)
