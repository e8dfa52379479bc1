"""A discrete-event simulation of the same system the queueing model describes, to check the model against.

Poisson arrivals join one FIFO queue in front of ``replicas`` replicas. A free replica takes the oldest
waiting requests as one batch, up to ``max_batch`` of them, as soon as ``max_batch`` are waiting or the
oldest has waited ``delay_s`` (with no delay: whatever is waiting, at once, which is what a real dynamic
batcher does and the model does not credit). A batch's service time is its measured mean (deterministic,
the M/D/c of the model) or a draw from a log-normal fitted to its measured mean and p99.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from rightsize.queueing import Batching, ServiceCurve

# The standard normal's 99th percentile: a log-normal's p99 is exp(mu + Z99 * sigma).
Z99 = 2.3263478740408408


@dataclass(frozen=True)
class Simulated:
    """What one simulation measured."""

    requests: int
    latency_quantile_s: float
    mean_batch: float
    utilisation: float


def lognormal_sigma(mean_s: float, p99_s: float) -> float:
    """The sigma of the log-normal with this mean and p99 (0 when p99 <= mean: a constant)."""
    if p99_s <= mean_s:
        return 0.0
    # mean = exp(mu + s²/2) and p99 = exp(mu + z s), so s²/2 - z s + ln(p99/mean) = 0; the smaller root.
    discriminant = Z99 * Z99 - 2 * math.log(p99_s / mean_s)
    return Z99 - math.sqrt(max(discriminant, 0.0))


def simulate(
    rate: float,
    replicas: int,
    batching: Batching,
    curve: ServiceCurve,
    *,
    quantile: float = 0.99,
    requests: int = 200_000,
    seed: int = 0,
    random_service: bool = False,
) -> Simulated:
    """Simulate ``requests`` Poisson arrivals at ``rate``/s; the first tenth warms the queue up and is not counted."""
    if rate <= 0 or replicas < 1 or requests < 10:
        raise ValueError("simulate needs rate > 0, replicas >= 1 and requests >= 10")
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / rate, size=requests))
    done = np.empty(requests)
    free_at = [0.0] * replicas  # a heap of the times each replica is next free
    head, batches, busy = 0, 0, 0.0
    cap, delay = batching.max_batch, batching.delay_s
    while head < requests:
        last_needed = head + cap - 1
        ready = arrivals[head] + delay
        if last_needed < requests:
            ready = min(ready, arrivals[last_needed])
        start = max(heapq.heappop(free_at), ready)
        size = min(cap, int(np.searchsorted(arrivals, start, side="right")) - head)
        size = max(size, 1)
        mean, p99 = curve.at(size)
        service = mean
        if random_service:
            sigma = lognormal_sigma(mean, p99)
            service = float(rng.lognormal(math.log(mean) - sigma * sigma / 2, sigma)) if sigma > 0 else mean
        finish = start + service
        done[head : head + size] = finish
        heapq.heappush(free_at, finish)
        head += size
        batches += 1
        busy += service
    counted = slice(requests // 10, requests)
    latencies = done[counted] - arrivals[counted]
    span = arrivals[-1] - arrivals[0]
    return Simulated(
        requests=requests - requests // 10,
        latency_quantile_s=float(np.quantile(latencies, quantile)),
        mean_batch=requests / batches,
        utilisation=busy / (span * replicas) if span > 0 else math.nan,
    )
