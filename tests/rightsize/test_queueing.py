"""The queueing model: textbook values, its edges, and that it does not promise less than a simulation shows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rightsize.queueing import (
    Batching,
    ServiceCurve,
    ServicePoint,
    erlang_c,
    fewest_replicas,
    latency_quantile,
    operating_point,
    queue_wait_quantile,
)
from rightsize.simulate import lognormal_sigma, simulate

GPU = ServiceCurve((ServicePoint(1, 0.004, 0.005), ServicePoint(8, 0.008, 0.010), ServicePoint(32, 0.020, 0.025)))


def test_erlang_c_textbook_values() -> None:
    """C(1, a) = a; C(2, 1) = 1/3; the classic call-centre case C(10, 8) = 0.409."""
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-4)
    assert erlang_c(3, 3.0) == 1.0
    assert erlang_c(3, 0.0) == 0.0


def test_overload_has_no_finite_latency() -> None:
    """At or past full utilisation the wait is infinite and no replica count is found below it."""
    assert queue_wait_quantile(2, 100.0, 0.02, 0.99) == math.inf
    assert latency_quantile(1000.0, 1, Batching(1, 0.0), GPU, 0.99) == math.inf


def test_batches_form_full_or_at_the_delay() -> None:
    """Full batches when they fill within the delay; otherwise 1 + rate x delay requests after the delay."""
    full = operating_point(1000.0, Batching(8, 0.010), GPU)
    assert full.batch == 8.0
    assert full.forming_wait_s == pytest.approx(0.007)
    partial = operating_point(200.0, Batching(8, 0.010), GPU)
    assert partial.batch == pytest.approx(3.0)
    assert partial.forming_wait_s == 0.010
    assert partial.mean_service_s == pytest.approx(0.004 + 2 / 7 * 0.004)
    assert operating_point(1000.0, Batching(32, 0.0), GPU).batch == 1.0


def test_a_batch_that_alone_breaks_the_slo_has_no_replica_count() -> None:
    """Forming wait plus the p99 service time over the threshold: None, however many replicas."""
    assert fewest_replicas(1000.0, Batching(32, 0.050), GPU, threshold_s=0.040, quantile=0.99, headroom=0.3) is None


def test_headroom_sets_the_count_when_latency_is_easy() -> None:
    """500/s at 4 ms: 2 Erlangs; at 30% headroom ceil(2 / 0.7) = 3 replicas, at none 3 too (latency), at 60% 5."""
    one = Batching(1, 0.0)
    assert fewest_replicas(500.0, one, GPU, threshold_s=1.0, quantile=0.99, headroom=0.3) == 3
    assert fewest_replicas(500.0, one, GPU, threshold_s=1.0, quantile=0.99, headroom=0.6) == 5


def test_lognormal_fit_reproduces_mean_and_p99() -> None:
    """The simulation's log-normal has the measured mean and p99."""
    sigma = lognormal_sigma(0.010, 0.013)
    mu = math.log(0.010) - sigma * sigma / 2
    assert math.exp(mu + 2.3263478740408408 * sigma) == pytest.approx(0.013)
    assert lognormal_sigma(0.010, 0.009) == 0.0


@pytest.mark.parametrize(
    ("rate", "batching"),
    [
        (300.0, Batching(1, 0.0)),
        (1000.0, Batching(8, 0.010)),
        (200.0, Batching(8, 0.010)),
        (2000.0, Batching(32, 0.005)),
    ],
)
def test_the_model_is_conservative_against_a_simulation(rate: float, batching: Batching) -> None:
    """At the replica count the model picks, the simulated p99 (random service times) is within the SLO it promised."""
    threshold = 0.060
    replicas = fewest_replicas(rate, batching, GPU, threshold_s=threshold, quantile=0.99, headroom=0.3)
    assert replicas is not None
    modelled = latency_quantile(rate, replicas, batching, GPU, 0.99)
    simulated = simulate(rate, replicas, batching, GPU, requests=40_000, seed=1, random_service=True)
    assert simulated.latency_quantile_s <= modelled <= threshold


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(1.0, 5000.0),
    max_batch=st.sampled_from([1, 8, 32]),
    delay_ms=st.sampled_from([0.0, 2.0, 10.0]),
    headroom=st.floats(0.0, 0.6),
)
def test_the_count_found_meets_both_constraints_and_one_fewer_does_not(
    rate: float, max_batch: int, delay_ms: float, headroom: float
) -> None:
    """fewest_replicas is the smallest count within headroom and the SLO."""
    batching = Batching(max_batch, delay_ms / 1e3)
    found = fewest_replicas(rate, batching, GPU, threshold_s=0.1, quantile=0.99, headroom=headroom)
    assert found is not None

    def ok(count: int) -> bool:
        op = operating_point(rate, batching, GPU)
        busy = op.batch_rate * op.mean_service_s / count
        return busy <= 1 - headroom + 1e-9 and latency_quantile(rate, count, batching, GPU, 0.99) <= 0.1

    assert ok(found)
    assert found == 1 or not ok(found - 1)
