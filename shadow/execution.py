"""Shadow runs executed under leases, so a run survives a service restart and any replica can carry it on.

Each serving replica has a ``RunCoordinator``. It runs every run it holds on a worker thread of its own (a run
takes seconds to minutes of CPU, which must not hold the event loop), and a periodic pass (every ``lease_s / 4``)
that refreshes the heartbeat of those runs and claims what no one holds: queued runs, and running runs whose
owner's heartbeat is older than ``lease_s`` (it crashed). Progress reports refresh the heartbeat too, with the
run's phase and each part's progress, at most every ``PROGRESS_EVERY_S``.

A heartbeat that no longer matches (the run was cancelled from any replica, or taken over) stops the worker at
its next progress report. On a graceful stop the replica hands its runs back to the queue; the next replica
to start, or one already up, claims them. A resumed run replays from the beginning, and says so in its notes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Final

from google.protobuf import json_format
from sqlalchemy.engine import Engine

from inferwatch.v1 import shadow_service_pb2
from shadow.errors import RunCancelledError, RunStoppedError, ShadowError
from shadow.plan import RunPlan, plan_run
from shadow.replay import PartsSnapshot
from shadow.settings import ShadowSettings
from shadow.store import (
    Claim,
    claim_run,
    claimable_runs,
    fail_run,
    finish_run,
    heartbeat,
    release_run,
    run_state,
)

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S: Final = 0.5
# How long a graceful stop waits for its run threads to notice the release (a Ray run then ends its workers).
_STOP_JOIN_S: Final = 10.0


def default_replica_id() -> str:
    """``host:pid:random``: unique per process, and says where to look when a run's owner is questioned."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _Active:
    """A run this replica holds, and how to stop its worker thread."""

    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class RunCoordinator:
    """The runs one replica holds: started, heartbeated, claimed from others, released on stop."""

    def __init__(self, engine: Engine, db_url: str, settings: ShadowSettings, replica_id: str | None = None) -> None:
        self._engine = engine
        self._db_url = db_url
        self._settings = settings
        self.replica_id = replica_id or default_replica_id()
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def interval_s(self) -> float:
        """How often the periodic pass runs: four heartbeats per lease, so one slow pass does not lose it."""
        return self._settings.lease_s / 4

    def running(self) -> list[str]:
        """Ids of the runs this replica executes now."""
        with self._lock:
            return list(self._active)

    def claim(self, run_id: str, plan: RunPlan | None = None) -> bool:
        """Claim a run and start it here; False when another replica holds it, or it is no longer claimable.

        ``plan`` is the start request's, when this replica has just accepted it; a resumed run is planned again
        from its stored request.
        """
        if self._stopping:
            return False  # left queued: the replica that starts next takes it
        settings = self._settings
        claim = claim_run(
            self._engine,
            run_id,
            self.replica_id,
            lease_s=settings.lease_s,
            max_interruptions=settings.max_interruptions,
        )
        if claim is None:
            return False
        active = _Active()
        active.thread = threading.Thread(
            target=self._execute, args=(claim, plan, active), name=f"shadow-{run_id[:8]}", daemon=True
        )
        with self._lock:
            self._active[run_id] = active
        if claim.resumed:
            logger.info("shadow run %s resumed here (%s); its replay restarts", run_id, self.replica_id)
        active.thread.start()
        return True

    def pass_once(self) -> None:
        """Refresh the lease of every run held here (stopping those that are not ours any more), then claim."""
        with self._lock:
            held = list(self._active.items())
        for run_id, active in held:
            if not heartbeat(self._engine, run_id, self.replica_id):
                active.stop.set()  # cancelled, or taken over while this replica was too slow to say it lived
        if self._stopping:
            return
        for run_id in claimable_runs(self._engine, self._settings.lease_s):
            self.claim(run_id)

    def release_all(self) -> None:
        """At a graceful stop: hand every run held here back to the queue and stop its worker."""
        self._stopping = True
        with self._lock:
            held = list(self._active.items())
        for run_id, active in held:
            if release_run(self._engine, run_id, self.replica_id, "its replica stopped"):
                logger.info("shadow run %s released: the next replica to start resumes it", run_id)
            active.stop.set()
        deadline = time.monotonic() + _STOP_JOIN_S
        for _, active in held:
            if active.thread is not None:
                active.thread.join(max(0.0, deadline - time.monotonic()))

    def _plan(self, claim: Claim) -> RunPlan:
        stored = claim.request.get("start_request")
        if not isinstance(stored, dict):
            raise ShadowError(
                "the run was queued by an inferwatch version that did not keep its start request, so it cannot be "
                "resumed: start it again"
            )
        request = json_format.ParseDict(stored, shadow_service_pb2.StartShadowRunRequest())
        try:
            return plan_run(request, self._settings)
        except ValueError as error:  # this replica's settings or providers differ from the one that planned it
            raise ShadowError(f"the run cannot be planned again on {self.replica_id}: {error}") from None

    def _execute(self, claim: Claim, plan: RunPlan | None, active: _Active) -> None:
        from shadow.runner import run_shadow_from_store

        run_id, owner = claim.run_id, self.replica_id
        snapshot: PartsSnapshot | None = None
        last = 0.0

        def watch(parts: PartsSnapshot) -> None:
            nonlocal snapshot
            snapshot = parts

        def progress(done: int, total: int, phase: str) -> None:
            nonlocal last
            if active.stop.is_set():
                raise RunStoppedError(f"run {run_id} is no longer held by {owner}")
            if time.monotonic() - last >= PROGRESS_EVERY_S or done >= total:
                last = time.monotonic()
                fields: dict[str, object] = {"progress_done": done, "progress_total": total, "phase": phase}
                if snapshot is not None:
                    fields["parts"] = [part.to_dict() for part in snapshot()]
                # The same UPDATE that says this replica is alive finds out whether the run is still its own:
                # a CancelShadowRun on any replica, or a takeover, makes it match nothing.
                if not heartbeat(self._engine, run_id, owner, **fields):
                    raise RunStoppedError(f"run {run_id} is no longer held by {owner}")

        def parts(*, finished: bool) -> list[dict[str, object]] | None:
            if snapshot is None:
                return None
            return [(part.finished() if finished else part).to_dict() for part in snapshot()]

        try:
            plan = plan or self._plan(claim)
            result = run_shadow_from_store(
                self._db_url,
                claim.model_name,
                claim.model_version,
                plan.requests,
                plan.options,
                progress=progress,
                start_unix_nano=plan.start_unix_nano,
                end_unix_nano=plan.end_unix_nano,
                watch_parts=watch,
            )
            if not finish_run(self._engine, run_id, result, owner, parts(finished=True)):
                logger.info("shadow run %s finished, but it was cancelled or is no longer held here", run_id)
        except (RunCancelledError, RunStoppedError):
            state = run_state(self._engine, run_id)
            logger.info("shadow run %s stopped on %s: it is %s", run_id, owner, state)
        except Exception as error:  # a failed run is reported on the run, never lost in a thread
            logger.warning("shadow run %s failed: %s", run_id, error)
            fail_run(
                self._engine,
                run_id,
                str(error) if isinstance(error, ShadowError) else f"{type(error).__name__}: {error}",
                owner,
                parts(finished=False),
            )
        finally:
            with self._lock:
                self._active.pop(run_id, None)
