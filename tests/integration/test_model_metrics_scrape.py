"""/metrics per model through the real service: the numbers appear after spans, and a scrape never waits on the
database."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from collector.core.config import Config, DetectorsConfig
from tests.integration.ingest_helpers import export_spans_with_sdk
from tests.integration.service_harness import RunningService, loopback_config

INTERVAL_S = 0.2


def requests_on_metrics(service: RunningService, timeout_s: float = 5.0) -> float | None:
    """inferwatch_model_requests_total of fraud/1/cpu as one scrape shows it (None when absent)."""
    with urllib.request.urlopen(f"{service.http_base}/metrics", timeout=timeout_s) as response:
        exposition = response.read().decode()
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "inferwatch_model_requests_total" and sample.labels == {
                "model": "fraud",
                "version": "1",
                "hardware_class": "cpu",
            }:
                return sample.value
    return None


def wait_for_requests(service: RunningService, expected: float) -> None:
    """Poll /metrics until it shows ``expected`` requests."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests_on_metrics(service) == expected:
            return
        time.sleep(0.1)
    pytest.fail(f"/metrics never showed {expected} requests; last: {requests_on_metrics(service)}")


@pytest.mark.postgres
def test_a_scrape_answers_from_the_snapshot_while_the_tables_are_locked(
    fresh_postgres_url: Callable[[], str], tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """With the rollup, finding and alert tables locked, /metrics still answers at once with the last numbers."""
    db_url = fresh_postgres_url()
    config = replace(
        loopback_config(db_url, tmp_path / "spool"), detectors=DetectorsConfig(detector_interval_s=INTERVAL_S)
    )
    service = start_service(config)
    assert export_spans_with_sdk(service.grpc_target, 25)
    wait_for_requests(service, 25)

    locker = create_engine(db_url)
    try:
        with locker.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE span_rollups, findings, alerts IN ACCESS EXCLUSIVE MODE"))
            time.sleep(5 * INTERVAL_S)  # the refresh pass is now stuck on the lock
            # A scrape that read the database would hang here until the lock goes, and time out.
            assert requests_on_metrics(service, timeout_s=5.0) == 25
            transaction.rollback()
    finally:
        locker.dispose()
    assert export_spans_with_sdk(service.grpc_target, 5)
    wait_for_requests(service, 30)
