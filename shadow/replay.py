"""Replay recorded inputs through the baseline and its variants, measuring latency, throughput and memory.

Method (research/shadow-anchors.md §5, §7):

* every model is warmed up, then each request runs at batch 1 through every model in turn, the order rotated
  per request, so drift in machine load hits all models alike and latencies are paired by request;
* throughput runs the replayed inputs concatenated into batches of ``batch_size`` along axis 0 when the
  model's first input dimension is dynamic, else at batch 1 (and says so). Every session first runs one
  untimed pass over its batches (a session's first batched calls grow its arena and can run several times
  slower), then each model runs timed rounds of at least ``round_seconds`` (a round of a few batches of a
  small model lasts a fraction of a millisecond, where a timer tick or a context switch is most of it),
  models interleaved and the order rotated per round, so round i of every model ran back to back and the
  rounds pair up for the throughput ratio's bound;
* the batch curve times calls at batch 1, 2, 4, ... up to ``curve_max_batch`` rows for each model, models
  interleaved per size, for per-call latency and rows per second at each size;
* peak memory is the larger of two rises while the session is created, warmed up and run once at the
  throughput batch: the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``;
  else the current ``VmRSS``), and the bytes the C allocator has handed out and not taken back (glibc
  ``mallinfo2``: the session's weights and arena, held while it is open). The first misses memory the
  allocator reuses from freed pages (in a long-lived process it often reads 0), the second misses what was
  freed again before the end, so each is a lower bound and the larger one is reported. Approximate.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from shadow.errors import ReplayError
from shadow.tensors import Array, Feed, stack_feeds

Progress = Callable[[int, int, str], None]
# A part's states: waiting for its session or node, replaying, finished, failed (with the reason), and
# replaying again on another node after its worker died (Ray).
PART_STATES: Final = ("queued", "running", "done", "failed", "retried")
_STATUS: Final = Path("/proc/self/status")
_CLEAR_REFS: Final = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay: warm-up calls, throughput batch size and rounds, threads per session."""

    warmup: int = 20
    batch_size: int = 32
    throughput_rounds: int = 5
    intra_op_threads: int = 1
    # Each timed throughput round runs batches until this much time has passed.
    round_seconds: float = 0.1
    # The batch curve: sizes 1, 2, 4, ... up to this many rows, each timed for ``curve_seconds`` per model.
    curve_max_batch: int = 64
    curve_seconds: float = 0.05

    def __post_init__(self) -> None:
        for name in ("batch_size", "throughput_rounds", "intra_op_threads", "curve_max_batch"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        for name in ("round_seconds", "curve_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0 seconds, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"`warmup` must be >= 0, got {self.warmup}")

    @property
    def curve_sizes(self) -> tuple[int, ...]:
        """The batch sizes of the curve: powers of two up to ``curve_max_batch``, and that size itself."""
        sizes = [1 << k for k in range(self.curve_max_batch.bit_length()) if 1 << k <= self.curve_max_batch]
        return tuple(sorted({*sizes, self.curve_max_batch}))


@dataclass(frozen=True)
class BatchPoint:
    """One model at one batch size: per-call latency and rows per second over the timed calls."""

    batch: int
    calls: int
    p50_ms: float
    p99_ms: float
    rows_per_s: float


@dataclass(frozen=True)
class ModelToRun:
    """One model to replay: a key unique in the run, its file and the execution provider to ask for."""

    key: str
    path: Path
    execution_provider: str


@dataclass(frozen=True)
class Measurement:
    """What one model measured on the replayed inputs."""

    key: str
    execution_provider: str
    latencies_ms: tuple[float, ...]
    throughput_rps: float
    throughput_batch: int
    throughput_rounds_rps: tuple[float, ...]
    peak_memory_bytes: int | None
    memory_method: str
    notes: tuple[str, ...] = ()
    error: str | None = None
    outputs: dict[str, Array] = field(default_factory=dict, repr=False, compare=False)
    # How long each throughput round ran, in step with ``throughput_rounds_rps``.
    throughput_round_seconds: tuple[float, ...] = ()
    batch_curve: tuple[BatchPoint, ...] = ()
    # The hardware of the node that measured it (CPU model and flags, GPUs, ORT version), for remote runs.
    node: Mapping[str, str] = field(default_factory=dict)


def _status_kib(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB, or None off Linux."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (every field a size_t)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


@functools.cache
def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    """glibc's ``mallinfo2`` (2.33+), or None on another C library."""
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    return function


def _heap_in_use() -> int | None:
    """Bytes the C allocator has handed out (small blocks plus mmapped ones), or None off glibc."""
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return None
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


@dataclass(frozen=True)
class PartProgress:
    """One part of a run (the baseline, or one variant on one execution provider) as its replay last reported.

    ``done`` counts its requests replayed at batch 1 so far, of ``total`` planned (an early stop ends a run
    below it); the node is where it runs (this host for the local executor; no node id there).
    """

    key: str
    execution_provider: str
    state: str
    done: int
    total: int
    hardware_class: str = ""
    hostname: str = ""
    node_id: str = ""
    error: str = ""

    def __post_init__(self) -> None:
        if self.state not in PART_STATES:
            raise ValueError(f"`state` must be one of {', '.join(PART_STATES)}, got {self.state!r}")

    def finished(self) -> PartProgress:
        """As it stands once the run is over: a part that did not fail is done."""
        return self if self.state == "failed" else replace(self, state="done")

    def to_dict(self) -> dict[str, Any]:
        """As stored in ``shadow_runs.parts``."""
        return asdict(self)


# What the runner hands its caller once the replay has begun: read it whenever a snapshot is wanted.
PartsSnapshot = Callable[[], list[PartProgress]]


class Replayer(Protocol):
    """What the runner drives: ``Replay`` in this process, or ``shadow.cluster.RayReplay`` on a Ray cluster."""

    def __enter__(self) -> Replayer: ...

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None: ...

    def run_throughput(self, feeds: Sequence[Feed], progress: Progress | None = None) -> None: ...

    def run_batch_curve(self, feeds: Sequence[Feed], progress: Progress | None = None) -> None: ...

    def run_requests(
        self, feeds: Sequence[Feed], progress: Progress | None = None, done_before: int = 0, total: int = 0
    ) -> None: ...

    def measurements(self) -> dict[str, Measurement]: ...

    def parts(self) -> list[PartProgress]: ...


class _Open:
    """A live session and what it has measured so far."""

    def __init__(self, model: ModelToRun, session: Any, dynamic_batch: bool, error: str | None = None) -> None:
        self.model = model
        self.session = session
        self.dynamic_batch = dynamic_batch
        self.provider: str = session.get_providers()[0] if session is not None else model.execution_provider
        self.output_names: list[str] = [output.name for output in session.get_outputs()] if session else []
        self.latencies_ns: list[int] = []
        self.raw_outputs: list[list[Array]] = []
        self.throughput: list[float] = []
        self.round_seconds: list[float] = []
        self.curve: list[BatchPoint] = []
        # Why the batch curve stops early: a size the model cannot run is a note, not a failed variant.
        self.curve_error: str | None = None
        self.peak: int | None = None
        self.memory_method = "unavailable"
        self.error = error


class Replay:
    """Open sessions for several models and replay inputs through them; use as a context manager."""

    def __init__(self, models: Sequence[ModelToRun], options: ReplayOptions, warmup_feeds: Sequence[Feed]) -> None:
        if not models:
            raise ValueError("`models` must not be empty")
        if not warmup_feeds:
            raise ValueError("`warmup_feeds` must not be empty")
        self.options = options
        # Set when requests differ in shape beyond the batch axis and cannot be stacked into batches.
        self._ragged = False
        self._opened: list[_Open] = []
        for index, model in enumerate(models):
            try:
                self._opened.append(self._open(model, warmup_feeds))
            except ReplayError as error:
                if index == 0:  # without the baseline there is nothing to compare against
                    raise
                self._opened.append(_Open(model, None, dynamic_batch=False, error=str(error)))
        self._rotation = 0

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the sessions."""
        for opened in self._opened:
            opened.session = None

    def _open(self, model: ModelToRun, feeds: Sequence[Feed]) -> _Open:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.options.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        providers = [model.execution_provider]
        if model.execution_provider != "CPUExecutionProvider":
            providers.append("CPUExecutionProvider")  # nodes the provider cannot run fall back to CPU
        peak_resets = _reset_peak()
        rss_before = _status_kib("VmRSS")
        heap_before = _heap_in_use()
        try:
            session = onnxruntime.InferenceSession(str(model.path), options, providers=providers)
        except Exception as error:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
            raise ReplayError(f"{model.key}: cannot load {model.path} on {model.execution_provider}: {error}") from None
        first = session.get_inputs()[0].shape
        opened = _Open(model, session, dynamic_batch=bool(first) and not isinstance(first[0], int))
        bound = session.get_providers()
        if model.execution_provider not in bound:
            # ORT falls back to CPU when a provider cannot start (onnxruntime-gpu lists CUDA whether or not a GPU
            # and its libraries are there), and says so only in its log. Measuring that session would report
            # CPU numbers under the provider's name and price.
            opened.error = (
                f"asked for {model.execution_provider}, ONNX Runtime bound only {bound}: the provider could not "
                "start here (for CUDA: no GPU, or a missing CUDA or cuDNN library; ORT's log names it)"
            )
            opened.session = None
            return opened
        try:
            for i in range(self.options.warmup):
                session.run(None, feeds[i % len(feeds)])
            session.run(None, self._batches(opened.dynamic_batch, feeds[: self.options.batch_size])[0])
        except Exception as error:
            opened.error = f"warm-up failed: {type(error).__name__}: {error}"
        peak_after = _status_kib("VmHWM" if peak_resets else "VmRSS")
        heap_after = _heap_in_use()
        rises: dict[str, int] = {}
        if rss_before is not None and peak_after is not None:
            rises["VmHWM rise (clear_refs)" if peak_resets else "VmRSS rise"] = max(0, peak_after - rss_before) * 1024
        if heap_before is not None and heap_after is not None:
            rises["malloc in-use rise"] = max(0, heap_after - heap_before)
        if rises:
            method, opened.peak = max(rises.items(), key=lambda item: item[1])
            opened.memory_method = f"{method} (the larger of: {', '.join(rises)})"
        return opened

    def _batches(self, dynamic_batch: bool, feeds: Sequence[Feed]) -> list[Feed]:
        """The feeds grouped into throughput batches (single requests if the batch dimension is fixed)."""
        if not dynamic_batch or self._ragged:
            return list(feeds)
        size = self.options.batch_size
        try:
            # One concatenation, then row slices (views): stacking each batch apart cost a small model's run
            # more than the batches themselves.
            whole = stack_feeds(feeds)
        except ValueError:  # requests whose shapes differ beyond the batch axis: try each batch alone
            try:
                return [stack_feeds(feeds[i : i + size]) for i in range(0, len(feeds), size)]
            except ValueError:
                # Sequences of different lengths: batching them would need padding, which changes what the
                # model computes, so throughput is measured one request at a time, and says so.
                self._ragged = True
                return list(feeds)
        return [{name: array[i : i + size] for name, array in whole.items()} for i in range(0, len(feeds), size)]

    def parts(self) -> list[PartProgress]:
        """Each model's progress: all replay here, request by request, so they advance together."""
        host = socket.gethostname()
        return [
            PartProgress(
                key=opened.model.key,
                execution_provider=opened.model.execution_provider,
                state="failed" if opened.error is not None else "running",
                done=len(opened.latencies_ns),
                total=0,
                hostname=host,
                error=opened.error or "",
            )
            for opened in self._opened
        ]

    @property
    def live(self) -> list[_Open]:
        """Sessions that have not failed."""
        return [opened for opened in self._opened if opened.error is None]

    def run_requests(
        self, feeds: Sequence[Feed], progress: Progress | None = None, done_before: int = 0, total: int = 0
    ) -> None:
        """Run each request at batch 1 through every live model, keeping latencies and outputs.

        The loop is kept lean (bound methods, rotations computed once, outputs converted later), since its
        per-call cost is the runner's overhead over a bare ``session.run`` loop; the timer brackets the call
        alone.
        """
        clock = time.perf_counter_ns
        live = self.live
        if not live or live[0] is not self._opened[0]:
            raise ReplayError(f"baseline failed: {self._opened[0].error}")
        # Per model, what the loop calls, bound once: the run method, its output names (so ORT does not list
        # them again on every call, as it does for None) and the two appends.
        slots = [
            (opened, opened.session.run, opened.output_names, opened.latencies_ns.append, opened.raw_outputs.append)
            for opened in live
        ]
        orders = [slots[start:] + slots[:start] for start in range(len(slots))]
        rotation = self._rotation
        try:
            for index, feed in enumerate(feeds):
                order = orders[rotation % len(orders)]
                rotation += 1
                for opened, run, names, keep_latency, keep_outputs in order:
                    if opened.error is not None:
                        continue
                    began = clock()
                    try:
                        results = run(names, feed)
                    except Exception as error:  # a variant that fails at run time is reported, not fatal
                        opened.error = f"run failed: {type(error).__name__}: {error}"
                        continue
                    keep_latency(clock() - began)
                    keep_outputs(results)
                if progress is not None:
                    progress(done_before + index + 1, total or len(feeds), "replay")
        finally:
            self._rotation = rotation
        if self._opened[0].error is not None:
            raise ReplayError(f"baseline failed: {self._opened[0].error}")

    def run_throughput(self, feeds: Sequence[Feed], progress: Progress | None = None) -> None:
        """Rows per second at the throughput batch size: warm every session, then interleaved timed rounds."""
        clock = time.perf_counter
        # Built once per batching, not per model: stacking the feeds is the runner's work, not the model's.
        batches = {dynamic: self._batches(dynamic, feeds) for dynamic in {opened.dynamic_batch for opened in self.live}}
        for opened in self.live:  # untimed: the arena grows on the first batched calls, not in the rounds
            try:
                for batch in batches[opened.dynamic_batch]:
                    opened.session.run(None, batch)
            except Exception as error:
                opened.error = f"batched run failed: {type(error).__name__}: {error}"
        rounds, least = self.options.throughput_rounds, self.options.round_seconds
        for round_index in range(rounds):
            live = self.live
            # Rotated per round: no model always runs first (or right after the same neighbour).
            order = live[round_index % len(live) :] + live[: round_index % len(live)] if live else []
            for opened in order:
                run, cycle = opened.session.run, batches[opened.dynamic_batch]
                sizes = [len(next(iter(batch.values()))) for batch in cycle]
                rows, calls = 0, 0
                began = clock()
                elapsed = 0.0
                try:
                    while elapsed < least:
                        run(None, cycle[calls % len(cycle)])
                        rows += sizes[calls % len(cycle)]
                        calls += 1
                        elapsed = clock() - began
                except Exception as error:
                    opened.error = f"batched run failed: {type(error).__name__}: {error}"
                    continue
                opened.throughput.append(rows / max(elapsed, 1e-9))
                opened.round_seconds.append(elapsed)
            if progress is not None:
                progress(round_index + 1, rounds, "throughput")

    def run_batch_curve(self, feeds: Sequence[Feed], progress: Progress | None = None) -> None:
        """Per-call latency and rows per second at batch 1, 2, 4, ... for every live model, interleaved per size.

        Models whose first dimension is fixed, and requests that cannot be stacked, get batch 1 only.
        """
        clock = time.perf_counter_ns
        stacked: Feed | None = None
        if not self._ragged:
            try:
                stacked = stack_feeds(feeds)
            except ValueError:
                stacked = None
        sizes = list(self.options.curve_sizes) if stacked is not None else [1]
        rows_there = len(next(iter(stacked.values()))) if stacked else 1
        if stacked is not None and rows_there < sizes[-1]:
            # Fewer recorded rows than the largest batch: repeat them; a row's values barely change its cost.
            repeats = -(-sizes[-1] // rows_there)
            stacked = {name: np.concatenate([array] * repeats) for name, array in stacked.items()}
            rows_there *= repeats
        least_ns = int(self.options.curve_seconds * 1e9)
        for index, size in enumerate(sizes):
            for opened in self.live:
                if opened.curve_error is not None or (size > 1 and (stacked is None or not opened.dynamic_batch)):
                    continue
                if stacked is not None:
                    starts = range(0, rows_there - size + 1, size)
                    cycle = [{name: array[i : i + size] for name, array in stacked.items()} for i in starts]
                else:
                    cycle = list(feeds[:64])
                run, took = opened.session.run, list[int]()
                try:
                    run(None, cycle[0])  # this size's first call allocates its buffers
                    began = clock()
                    while clock() - began < least_ns:
                        start = clock()
                        run(None, cycle[len(took) % len(cycle)])
                        took.append(clock() - start)
                except Exception as error:
                    opened.curve_error = f"batch curve stops at batch {size}: {type(error).__name__}: {error}"
                    continue
                ms = np.asarray(took, dtype=np.float64) / 1e6
                p50, p99 = (float(v) for v in np.percentile(ms, [50, 99]))
                opened.curve.append(BatchPoint(size, len(took), p50, p99, size * len(took) / (ms.sum() / 1e3)))
            if progress is not None:
                progress(index + 1, len(sizes), "batch curve")

    def measurements(self) -> dict[str, Measurement]:
        """Everything measured so far, by model key."""
        result: dict[str, Measurement] = {}
        for opened in self._opened:
            notes: list[str] = []
            batched = opened.dynamic_batch and not self._ragged
            if not opened.dynamic_batch and opened.throughput:
                notes.append("first input dimension is fixed: throughput measured at batch 1")
            elif self._ragged and opened.throughput:
                notes.append("requests differ in shape beyond the batch axis: throughput measured at batch 1")
            if opened.curve_error is not None:
                notes.append(opened.curve_error)
            # One column of per-request results per output (zip in C, not a Python loop per request).
            columns = list(zip(*opened.raw_outputs, strict=True)) if opened.raw_outputs else []
            # No columns at all before the first request: then there are no outputs to name.
            named = zip(opened.output_names, columns, strict=False)
            outputs = {name: _concat(name, list(column)) for name, column in named}
            result[opened.model.key] = Measurement(
                key=opened.model.key,
                execution_provider=opened.provider,
                latencies_ms=tuple((np.asarray(opened.latencies_ns, dtype=np.float64) / 1e6).tolist()),
                throughput_rps=float(np.median(opened.throughput)) if opened.throughput else float("nan"),
                throughput_batch=self.options.batch_size if batched else 1,
                throughput_rounds_rps=tuple(opened.throughput),
                peak_memory_bytes=opened.peak,
                memory_method=opened.memory_method,
                notes=tuple(notes),
                error=opened.error,
                outputs=outputs,
                throughput_round_seconds=tuple(opened.round_seconds),
                batch_curve=tuple(opened.curve),
            )
        return result


def _concat(name: str, parts: list[Array]) -> Array:
    """Per-request outputs joined along the batch axis (scalars stacked); ReplayError when they cannot be."""
    if not parts:
        return np.empty(0)
    try:
        return np.concatenate(parts, axis=0)
    except ValueError:  # 0-d outputs, or shapes that differ beyond the batch axis
        pass
    try:
        return np.stack([np.asarray(part).reshape(-1) for part in parts])
    except ValueError:
        shapes = sorted({np.shape(part) for part in parts})[:3]
        raise ReplayError(
            f"output {name!r} has a different shape from one request to the next (e.g. {shapes}), as per-token "
            "outputs do; comparing such outputs is not supported yet"
        ) from None
