"""Pacing: while the writer is draining a backlog, answers to exports wait, so that ingest does not take the
CPU the writer needs.

On two cores the serving process can accept spans three times faster than the writer stores them. Left alone
it does, and it takes the writer's core to do it: the backlog grows, the writer is starved, and fewer rows are
stored per second than if the serving process had waited (measured in ``benchmarks/ingest.py``). So once the
spool holds more than ``pace_above_bytes``, each answer waits as long as the writer needs to drain the excess
at its recent rate, up to ``max_delay_s``. Clients keep a bounded number of exports in flight, so their rate
settles where the excess equals what they have in flight: the backlog stays near the threshold and accepted
equals stored.

Nothing is refused or lost by pacing: the data is spooled before the wait. When the writer is not draining
(the database is down or stalled), nothing waits: absorbing an outage is what the spool is for, and a client
made to wait then would buffer, and drop, on its side instead.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from collector.core.limits import DEFAULT_PACE_ABOVE_BYTES
from collector.ingest.spool import Spool

# The drain rate is measured over this window; a writer that drained nothing in it is not draining.
RATE_WINDOW_S = 1.0
_SAMPLE_EVERY_S = 0.05


@dataclass(frozen=True)
class PacingOptions:
    """When answers wait. ``above_bytes`` 0 turns pacing off."""

    above_bytes: int = DEFAULT_PACE_ABOVE_BYTES
    max_delay_s: float = 1.0


class IngestPacer:
    """How long the next answer should wait, from the spool's backlog and the writer's recent drain rate."""

    def __init__(self, spool: Spool, options: PacingOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self._spool = spool
        self._options = options
        self._clock = clock
        # (time, bytes drained so far), oldest first, spanning about RATE_WINDOW_S.
        self._samples: deque[tuple[float, int]] = deque()

    def delay_s(self) -> float:
        """Seconds to wait before answering; 0 when the backlog is small or the writer is not draining."""
        if self._options.above_bytes <= 0:
            return 0.0
        rate = self._drain_rate()
        excess = self._spool.pending_bytes - self._options.above_bytes
        if excess <= 0 or rate <= 0:
            return 0.0
        return min(self._options.max_delay_s, excess / rate)

    def _drain_rate(self) -> float:
        """Bytes per second the writer committed over the last RATE_WINDOW_S."""
        now = self._clock()
        drained = self._spool.drained_bytes
        samples = self._samples
        if not samples or now - samples[-1][0] >= _SAMPLE_EVERY_S:
            samples.append((now, drained))
        while len(samples) > 1 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        oldest_time, oldest_drained = samples[0]
        elapsed = now - oldest_time
        if elapsed < RATE_WINDOW_S / 2:
            return 0.0  # too short a look to tell a writer that drains from one that does not
        return (drained - oldest_drained) / elapsed
