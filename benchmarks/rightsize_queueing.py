"""The right-sizing queueing model against a discrete-event simulation of the same arrival process.

Named baseline: ``rightsize.simulate.simulate``, a discrete-event simulation of Poisson arrivals into one
FIFO queue in front of c replicas with the same dynamic batcher (a batch leaves when ``max_batch`` requests
wait or the oldest has waited the delay; with no delay a free replica takes whatever waits, as real batchers
do), once with deterministic service times (the M/D/c the model assumes) and once with log-normal service
times fitted to each batch size's measured mean and p99. Same seed, same rates, in the same run.

Per scenario it prints the replicas the model picks (30% headroom, SLO p99), the modelled p99 at that
count and the simulated p99s there, and the fewest replicas that meet the SLO alone (no headroom) by the
model and by the simulation. Goal: the model is never optimistic (modelled p99 >= simulated, and it never
needs fewer replicas than the simulation), and costs at most one replica more than the simulation.
Run: ``.venv/bin/python benchmarks/rightsize_queueing.py [--requests 200000]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from rightsize.queueing import Batching, ServiceCurve, ServicePoint, fewest_replicas, latency_quantile
from rightsize.simulate import simulate

CPU = ServiceCurve((ServicePoint(1, 0.020, 0.025), ServicePoint(8, 0.160, 0.200)))
T4 = ServiceCurve((ServicePoint(1, 0.004, 0.005), ServicePoint(8, 0.008, 0.010), ServicePoint(32, 0.020, 0.025)))
# A heavy-tailed device: p99 three times the mean.
NOISY = ServiceCurve((ServicePoint(1, 0.010, 0.030), ServicePoint(8, 0.030, 0.090)))


@dataclass(frozen=True)
class Scenario:
    name: str
    curve: ServiceCurve
    rate: float
    batching: Batching
    threshold_s: float


SCENARIOS = (
    Scenario("cpu 1000/s no batching", CPU, 1000.0, Batching(1, 0.0), 0.100),
    Scenario("cpu 50/s no batching", CPU, 50.0, Batching(1, 0.0), 0.100),
    Scenario("t4 1000/s b<=8 10ms", T4, 1000.0, Batching(8, 0.010), 0.100),
    Scenario("t4 200/s b<=8 10ms", T4, 200.0, Batching(8, 0.010), 0.100),
    Scenario("t4 2000/s b<=32 5ms", T4, 2000.0, Batching(32, 0.005), 0.100),
    Scenario("t4 1000/s b<=8 2ms tight", T4, 1000.0, Batching(8, 0.002), 0.030),
    Scenario("t4 5000/s no batching", T4, 5000.0, Batching(1, 0.0), 0.050),
    Scenario("noisy 500/s no batching", NOISY, 500.0, Batching(1, 0.0), 0.150),
    Scenario("noisy 500/s b<=8 5ms", NOISY, 500.0, Batching(8, 0.005), 0.150),
)


def _simulated_fewest(s: Scenario, requests: int, *, start: int, random_service: bool) -> int:
    """The fewest replicas whose simulated p99 meets the SLO (no headroom), searching up from ``start``."""
    count = max(start, 1)
    while True:
        run = simulate(s.rate, count, s.batching, s.curve, requests=requests, seed=7, random_service=random_service)
        if run.latency_quantile_s <= s.threshold_s:
            return count
        count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="simulated requests per run")
    args = parser.parse_args()
    began = time.perf_counter()
    header = (
        f"{'scenario':<26} {'c(30%)':>6} {'model p99':>10} {'sim D p99':>10} {'sim LN p99':>10} "
        f"{'model/LN':>8} {'c SLO model':>11} {'c SLO sim D':>11} {'c SLO sim LN':>12}"
    )
    print(header)
    print("-" * len(header))
    worst_ratio, never_optimistic, extra = 0.0, True, 0
    for s in SCENARIOS:
        picked = fewest_replicas(s.rate, s.batching, s.curve, threshold_s=s.threshold_s, quantile=0.99, headroom=0.3)
        slo_only = fewest_replicas(s.rate, s.batching, s.curve, threshold_s=s.threshold_s, quantile=0.99, headroom=0.0)
        if picked is None or slo_only is None:
            raise SystemExit(f"{s.name}: no replica count meets the SLO; fix the scenario")
        modelled = latency_quantile(s.rate, picked, s.batching, s.curve, 0.99)
        det = simulate(s.rate, picked, s.batching, s.curve, requests=args.requests, seed=7)
        noisy = simulate(s.rate, picked, s.batching, s.curve, requests=args.requests, seed=7, random_service=True)
        # The search for the simulation's count starts a few below the model's: the model may be generous.
        floor = max(1, slo_only - 4)
        sim_det = _simulated_fewest(s, args.requests, start=floor, random_service=False)
        sim_ln = _simulated_fewest(s, args.requests, start=floor, random_service=True)
        ratio = modelled / noisy.latency_quantile_s
        worst_ratio = max(worst_ratio, ratio)
        never_optimistic &= modelled >= max(det.latency_quantile_s, noisy.latency_quantile_s) and slo_only >= max(
            sim_det, sim_ln
        )
        extra = max(extra, slo_only - max(sim_det, sim_ln))
        print(
            f"{s.name:<26} {picked:>6} {modelled * 1e3:>8.1f}ms {det.latency_quantile_s * 1e3:>8.1f}ms "
            f"{noisy.latency_quantile_s * 1e3:>8.1f}ms {ratio:>8.2f} {slo_only:>11} {sim_det:>11} {sim_ln:>12}"
        )
    print()
    print(
        f"baseline: the discrete-event simulation ({args.requests:,} requests per run, first 10% warm-up). "
        f"Model never optimistic: {'yes' if never_optimistic else 'NO'}; worst model/simulated p99 "
        f"{worst_ratio:.2f}x; at most {extra} replica(s) more than the simulation needs for the SLO alone. "
        f"({time.perf_counter() - began:.0f} s)"
    )


if __name__ == "__main__":
    main()
