"""The alert dispatcher: the long-running part that follows findings, groups alerts and empties the outbox.

Each pass has two steps. First, under a PostgreSQL advisory lock so one replica at a time does it, one
transaction applies new findings to the alerts, resolves what went quiet, and enqueues the notifications
groups need: decisions and the notification log commit together, or not at all. Then every replica sends
what is due from the outbox, claimed with ``FOR UPDATE SKIP LOCKED``. Time comes from an injected clock,
so tests can stand a receiver down for an hour without waiting one.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol
from uuid import uuid4

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig
from alerts.grouping import plan_notifications
from alerts.lifecycle import DEFAULT_VERDICT_INTERVAL_S, LifecycleOptions, follow_findings
from alerts.outbox import Claimed, RetryPolicy, backlog, claim, record, release, send_one
from alerts.sinks.base import AlertSink, Notification, SendResult
from collector.core.periodic import PeriodicPass, RunsPeriodically

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# An arbitrary constant naming the alert engine's advisory lock ("iwalerts" in ASCII).
ENGINE_LOCK_KEY: Final = 0x6977616C65727473
# Bounds one pass's sending when a receiver keeps failing fast; what is left waits for the next pass.
MAX_ROUNDS: Final = 50
# Receivers sent to at the same time in one pass.
MAX_PARALLEL_RECEIVERS: Final = 8


def utcnow() -> datetime:
    """The real clock."""
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class PassResult:
    """What one pass did."""

    evaluated: bool
    findings_read: int = 0
    enqueued: int = 0
    sent: int = 0
    failed: int = 0


class DispatcherObserver(Protocol):
    """What the dispatcher reports for the service's metrics (``collector.core.metrics.ServiceMetrics`` is one)."""

    def observe_pass(self, name: str, seconds: float, ok: bool) -> None:
        """A pass ended."""

    def observe_notification(self, receiver: str, result: str) -> None:
        """One notification attempt ended: ``sent``, ``retrying`` or ``failed``."""

    def observe_outbox(self, unsent: int, oldest_unsent_s: float) -> None:
        """The outbox after a delivery pass."""


class AlertDispatcher(RunsPeriodically):
    """Runs passes every ``evaluation_interval``, off the event loop; an async context manager. Leaving it lets
    the pass in flight run to its end, so its sends are recorded rather than left until their leases run out.

    ``verdict_interval_s`` is the detector scheduler's interval: a finding stands until the next is due.
    """

    def __init__(
        self,
        engine: Engine,
        config: AlertsConfig,
        sinks: Mapping[str, AlertSink],
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        replica_id: str | None = None,
        observer: DispatcherObserver | None = None,
        verdict_interval_s: float = DEFAULT_VERDICT_INTERVAL_S,
    ) -> None:
        self._engine = engine
        self._observer = observer
        self.config = config
        self._sinks = dict(sinks)
        self._clock = clock
        self._rng = rng or random.Random()
        self.replica_id = replica_id or f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self._lifecycle = LifecycleOptions(
            for_s=config.for_s,
            keep_firing_for_s=config.keep_firing_for_s,
            external_url=config.external_url,
            runbook_url=config.runbook_url,
            verdict_interval_s=verdict_interval_s,
            evaluation_interval_s=config.evaluation_interval_s,
        )
        self._policy = RetryPolicy(
            initial_s=config.retry_initial_s,
            max_s=config.retry_max_s,
            give_up_after_s=config.give_up_after_s,
            # A send can take up to the timeout; the lease outlasts it with room to spare.
            lease_s=max(60.0, 3 * config.send_timeout_s),
        )
        self._periodic = PeriodicPass(
            "inferwatch-alerts",
            self.run_once,
            config.evaluation_interval_s,
            observer.observe_pass if observer else None,
        )

    def evaluate(self, now: datetime) -> PassResult:
        """Follow findings and plan notifications, unless another replica is doing it right now."""
        with Session(self._engine) as session, session.begin():
            if self._engine.dialect.name == "postgresql":
                locked = session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ENGINE_LOCK_KEY})
                if not locked.scalar():
                    return PassResult(evaluated=False)
            read = follow_findings(session, self._lifecycle, now)
            resend = {name: sink.resend_interval_s for name, sink in self._sinks.items()}
            enqueued = plan_notifications(session, self.config, resend, now)
        return PassResult(evaluated=True, findings_read=read, enqueued=enqueued)

    def deliver(self, now: datetime) -> tuple[int, int]:
        """Send every due notification this replica can claim; returns (sent, failed attempts).

        Claims are taken in rounds because a group's next notification becomes claimable only once the one
        before it is sent: a receiver back after an outage drains its backlog in one pass, not one a pass.
        """
        sent = failed = 0
        # Receivers that failed in this pass: their other notifications wait for the next pass untried, so a
        # receiver that is down costs one timeout per pass, not one per notification, and the pass (which
        # also raises every new alert) stays short.
        down: set[str] = set()
        for _ in range(MAX_ROUNDS):
            claimed = claim(self._engine, self.replica_id, now, self._policy.lease_s, skip_receivers=down)
            if not claimed:
                break
            done, refused = self._send(claimed, now, down)
            sent, failed = sent + done, failed + refused
        if self._observer is not None:
            self._observer.observe_outbox(*backlog(self._engine, now))
        return sent, failed

    def _send(self, batch: list[Claimed], now: datetime, down: set[str]) -> tuple[int, int]:
        """Send a claimed batch: receivers in parallel, each receiver's notifications in order.

        One receiver that hangs until its timeout (Slack down) must not hold back the others (the pager).
        """
        by_receiver: dict[str, list[Claimed]] = defaultdict(list)
        for claimed in batch:
            by_receiver[claimed.receiver].append(claimed)
        if len(by_receiver) == 1:
            return self._send_to_one_receiver(batch, now, down)
        workers = min(MAX_PARALLEL_RECEIVERS, len(by_receiver))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inferwatch-alert-send") as pool:
            results = list(pool.map(lambda items: self._send_to_one_receiver(items, now, down), by_receiver.values()))
        return sum(sent for sent, _ in results), sum(failed for _, failed in results)

    def _send_to_one_receiver(self, batch: list[Claimed], now: datetime, down: set[str]) -> tuple[int, int]:
        """Send one receiver's notifications in order, until one fails in a way that another try may fix."""
        sent = failed = 0
        for index, claimed in enumerate(batch):
            if claimed.receiver in down:
                release(self._engine, batch[index:], self.replica_id)
                break
            sink = self._sinks.get(claimed.receiver)
            if sink is None:
                result = SendResult(False, retryable=False, detail=f"no receiver {claimed.receiver!r} is configured")
            else:
                notification = Notification(
                    id=claimed.notification_id,
                    receiver=claimed.receiver,
                    group_key=claimed.group_key,
                    group_labels=claimed.group_labels,
                    alerts=claimed.alerts,
                    sent_at=now,
                    external_url=self.config.external_url,
                )
                result = send_one(sink, notification)
            state = record(
                self._engine, claimed, result, replica=self.replica_id, now=now, policy=self._policy, rng=self._rng
            )
            if self._observer is not None:
                self._observer.observe_notification(claimed.receiver, state)
            if state == "sent":
                sent += 1
            else:
                failed += 1
                if result.retryable:
                    down.add(claimed.receiver)  # each thread adds only its own receiver
        return sent, failed

    def run_once(self, now: datetime | None = None) -> PassResult:
        """One full pass at ``now`` (default: the clock): evaluate, then deliver."""
        moment = now or self._clock()
        evaluated = self.evaluate(moment)
        sent, failed = self.deliver(moment)
        return PassResult(evaluated.evaluated, evaluated.findings_read, evaluated.enqueued, sent, failed)
