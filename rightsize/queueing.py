"""The queueing model right-sizing searches with: dynamic batching in front of an M/D/c pool of replicas.

The model, for Poisson arrivals at ``rate`` requests/s, ``replicas`` identical replicas, a batcher that
sends a batch when ``max_batch`` requests wait or the oldest has waited ``delay_s``, and a measured batch
curve (mean and p99 service time per batch size):

1. *Batch size*: at ``rate``, ``max_batch - 1`` more requests arrive after a batch's first one within
   ``(max_batch - 1) / rate`` seconds. When that is within ``delay_s`` batches leave full and the first
   request waits that long; otherwise they leave at the delay with ``1 + rate * delay_s`` requests on
   average. With no delay there is no batching (batch 1), which under-states what a real batcher gains
   from a queue: conservative.
2. *Queueing*: batches are customers of an M/D/c queue (Poisson arrivals at ``rate / batch``, the batch's
   mean service time, ``replicas`` servers). The chance to wait is Erlang C, which is an upper bound for
   deterministic service; the wait of those who wait is taken as exponential with half the M/M/c mean
   (Kingman's factor (c_a² + c_s²) / 2 = 1/2 for Poisson arrivals and constant service). Batches that leave
   full arrive more regularly than Poisson, so this over-states queueing too.
3. *Latency quantile*: the batch-forming wait (its maximum), plus the queueing wait's quantile, plus the
   measured service time quantile of the batch: a sum of upper quantiles, which over-states the quantile of
   the sum. ``benchmarks/rightsize_queueing.py`` compares it with a discrete-event simulation.

Service times between measured batch sizes are interpolated linearly (service time is close to affine in
the batch size on every device we measured); past the largest measured size nothing is assumed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

# Past this many replicas a configuration is not "right-sized" whatever it costs: the search gives up.
MAX_REPLICAS = 10_000


@dataclass(frozen=True)
class ServicePoint:
    """One measured batch size: mean and p99 service time of one call of ``batch`` rows, in seconds."""

    batch: int
    mean_s: float
    p99_s: float
    calls: int = 0

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"`batch` must be >= 1, got {self.batch}")
        if not (self.mean_s > 0 and self.p99_s > 0 and math.isfinite(self.mean_s) and math.isfinite(self.p99_s)):
            raise ValueError(f"service times must be finite and > 0, got mean {self.mean_s} and p99 {self.p99_s}")


@dataclass(frozen=True)
class ServiceCurve:
    """Measured service times by batch size, smallest batch first; read between points linearly."""

    points: tuple[ServicePoint, ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a service curve needs at least one measured batch size")
        batches = [p.batch for p in self.points]
        if batches != sorted(set(batches)):
            raise ValueError(f"batch sizes must be distinct and ascending, got {batches}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """The measured batch sizes."""
        return tuple(p.batch for p in self.points)

    def at(self, batch: float) -> tuple[float, float]:
        """(mean, p99) service time of a batch of ``batch`` rows (fractional: an average batch)."""
        points = self.points
        if batch <= points[0].batch:
            return points[0].mean_s, points[0].p99_s
        for low, high in itertools.pairwise(points):
            if batch <= high.batch:
                share = (batch - low.batch) / (high.batch - low.batch)
                return (
                    low.mean_s + share * (high.mean_s - low.mean_s),
                    low.p99_s + share * (high.p99_s - low.p99_s),
                )
        raise ValueError(f"batch {batch} is past the largest measured size {points[-1].batch}")


@dataclass(frozen=True)
class Batching:
    """The batcher's policy: at most ``max_batch`` rows, waiting at most ``delay_s`` for them."""

    max_batch: int
    delay_s: float

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"`max_batch` must be >= 1, got {self.max_batch}")
        if not (self.delay_s >= 0 and math.isfinite(self.delay_s)):
            raise ValueError(f"`delay_s` must be >= 0, got {self.delay_s}")


@dataclass(frozen=True)
class Operating:
    """How a configuration runs at one arrival rate: the batch it forms and what a request waits."""

    batch: float
    forming_wait_s: float
    batch_rate: float  # batches per second
    mean_service_s: float
    p99_service_s: float


def operating_point(rate: float, batching: Batching, curve: ServiceCurve) -> Operating:
    """Step 1 of the module docstring: the average batch at ``rate`` and the longest wait to form it."""
    if rate <= 0:
        mean, p99 = curve.at(1)
        return Operating(1.0, 0.0, 0.0, mean, p99)
    if batching.max_batch == 1 or batching.delay_s == 0:
        batch, wait = 1.0, 0.0
    elif (batching.max_batch - 1) / rate <= batching.delay_s:
        batch, wait = float(batching.max_batch), (batching.max_batch - 1) / rate
    else:
        batch, wait = min(float(batching.max_batch), 1 + rate * batching.delay_s), batching.delay_s
    mean, p99 = curve.at(batch)
    return Operating(batch, wait, rate / batch, mean, p99)


def erlang_c(servers: int, offered: float) -> float:
    """The chance an arrival waits in M/M/c with ``offered`` Erlangs on ``servers`` servers (1 when overloaded)."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    # Erlang B by its stable recursion, then C from B.
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    utilisation = offered / servers
    return blocking / (1 - utilisation * (1 - blocking))


def queue_wait_quantile(servers: int, arrival_rate: float, service_s: float, quantile: float) -> float:
    """Step 2: the ``quantile`` of the queueing wait in M/D/c, approximated as the module docstring says."""
    offered = arrival_rate * service_s
    if offered >= servers:
        return math.inf
    waits = erlang_c(servers, offered)
    if waits <= 1 - quantile:
        return 0.0
    conditional_mean = 0.5 * service_s / (servers - offered)
    return conditional_mean * math.log(waits / (1 - quantile))


def latency_quantile(
    rate: float, replicas: int, batching: Batching, curve: ServiceCurve, quantile: float, *, pessimistic: bool = False
) -> float:
    """Step 3: the modelled latency quantile in seconds (infinite when the replicas cannot keep up).

    ``pessimistic`` takes every batch's service time at its measured p99 instead of its mean: the bound.
    """
    op = operating_point(rate, batching, curve)
    service = op.p99_service_s if pessimistic else op.mean_service_s
    wait = queue_wait_quantile(replicas, op.batch_rate, service, quantile)
    return op.forming_wait_s + wait + op.p99_service_s


def utilisation(
    rate: float, replicas: int, batching: Batching, curve: ServiceCurve, *, pessimistic: bool = False
) -> float:
    """Busy share of each replica at ``rate``."""
    op = operating_point(rate, batching, curve)
    service = op.p99_service_s if pessimistic else op.mean_service_s
    return op.batch_rate * service / replicas


def fewest_replicas(
    rate: float,
    batching: Batching,
    curve: ServiceCurve,
    *,
    threshold_s: float,
    quantile: float,
    headroom: float,
    pessimistic: bool = False,
    at_least: int = 1,
) -> int | None:
    """The fewest replicas that keep utilisation at ``rate`` within ``1 - headroom`` and the modelled latency
    quantile within ``threshold_s``; None when no count does (the batch alone takes too long)."""
    op = operating_point(rate, batching, curve)
    if op.forming_wait_s + op.p99_service_s > threshold_s:
        return None
    service = op.p99_service_s if pessimistic else op.mean_service_s
    busy = op.batch_rate * service
    replicas = max(at_least, math.ceil(busy / (1 - headroom) - 1e-9)) if busy > 0 else at_least
    while replicas <= MAX_REPLICAS:
        wait = queue_wait_quantile(replicas, op.batch_rate, service, quantile)
        if op.forming_wait_s + wait + op.p99_service_s <= threshold_s:
            return replicas
        replicas += 1
    return None
