"""The JSON list endpoints on a real service over real stored data, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from collector.core.config import AuthConfig, Config, DetectorsConfig
from collector.core.storage.engine import create_engine_for
from tests.integration.http_helpers import http_json
from tests.integration.service_harness import RunningService, loopback_config
from tests.integration.web.seed import seed_findings, seed_rollups, seed_shadow_runs

WAIT_S = 30.0


@pytest.fixture
def seeded(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A service whose database holds rollups, findings (one firing, so one alert) and shadow runs."""
    config = replace(
        loopback_config(db_url, tmp_path / "spool"),
        detectors=DetectorsConfig(detector_interval_s=3600),
        # A long lease: the seeded queued run stays queued (the pass that claims runs comes every 15 minutes).
        feature_sections={"alerts": {"for": "0s", "evaluation_interval": "0.2s"}, "shadow": {"lease_s": 3600}},
    )
    service = start_service(config)
    # The first passes, at start, must not read the rows seeded below: the scheduler's findings would join the
    # seeded ones, and the shadow pass would claim the queued run (their next passes are long after the test).
    assert service.service is not None
    assert service.service.detectors is not None
    assert service.service.shadow_pass is not None
    assert service.service.detectors.first_pass_done.wait(30)
    assert service.service.shadow_pass.first_pass_done.wait(30)
    engine = create_engine_for(db_url)
    try:
        now = datetime.now(tz=UTC)
        seed_rollups(engine, now)
        seed_findings(engine, now)
        seed_shadow_runs(engine)
    finally:
        engine.dispose()
    return service


def get(service: RunningService, path: str, **params: Any) -> tuple[int, Any]:
    """GET a list endpoint with query parameters."""
    query = f"?{urlencode(params)}" if params else ""
    return http_json(f"{service.http_base}{path}{query}")


def wait_for_alert(service: RunningService) -> list[dict[str, Any]]:
    """The dispatcher turns the firing finding into an alert on its own interval."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status, body = get(service, "/api/v1/alerts")
        assert status == 200, body
        if body["alerts"]:
            return list(body["alerts"])
        time.sleep(0.1)
    pytest.fail("no alert within 30 s")


def test_lists_filter_and_page_stored_data(seeded: RunningService) -> None:
    """Models with traffic, latency and spend from rollups; findings, alerts and shadow runs filtered and paged."""
    status, body = get(seeded, "/api/v1/models")
    assert status == 200, body
    rows = {(row["model"], row["version"]): row for row in body["models"]}
    assert set(rows) == {("fraud", "3"), ("fraud", "4")}
    three, four = rows["fraud", "3"], rows["fraud", "4"]
    assert (three["requests"], three["errors"]) == (1000, 20)
    assert three["error_rate"] == pytest.approx(0.02)
    assert three["p50_ms"] == pytest.approx(20.0, rel=0.05)
    assert four["p99_ms"] == pytest.approx(80.0, rel=0.05)
    # The default prices, by the hour of busy time: 20 s busy over 10 minutes at $0.10 an hour on cpu.
    assert three["usd_per_hour"] == pytest.approx(20 / 3600 * 0.10 / 600 * 3600)
    assert three["usd_per_1k_predictions"] == pytest.approx(20 / 3600 * 0.10)
    assert four["usd_per_1k_predictions"] > three["usd_per_1k_predictions"]
    assert three["drift"] == "unknown"
    assert three["last_shadow_run"]["state"] == "failed"

    status, body = get(seeded, "/api/v1/models", sort="p99_ms")
    assert [row["version"] for row in body["models"]] == ["4", "3"]
    status, body = get(seeded, "/api/v1/models", sort="p99_ms", order="asc", limit=1)
    assert ([row["version"] for row in body["models"]], body["next_offset"], body["total"]) == (["3"], 1, 2)
    status, body = get(seeded, "/api/v1/models", version="4", range="7d")
    assert [row["version"] for row in body["models"]] == ["4"]
    assert body["range"] == "7d"

    status, body = get(seeded, "/api/v1/findings", model="fraud", version="3", limit=2)
    assert status == 200, body
    assert [f["value"] for f in body["findings"]] == [850.0, 849.0]
    assert body["next_offset"] == 2
    status, body = get(seeded, "/api/v1/findings", model="fraud", version="3", limit=2, offset=4)
    assert ([f["value"] for f in body["findings"]], body["next_offset"]) == ([846.0], None)
    status, body = get(seeded, "/api/v1/findings", firing="true")
    assert [(f["version"], f["firing"]) for f in body["findings"]] == [("3", True)]
    status, body = get(seeded, "/api/v1/findings", since="2999-01-01T00:00:00Z")
    assert body["findings"] == []

    (alert,) = wait_for_alert(seeded)
    assert (alert["labels"]["model"], alert["state"], alert["status"]) == ("fraud", "firing", "firing")
    assert alert["finding_id"] is not None
    assert get(seeded, "/api/v1/alerts", state="resolved")[1]["alerts"] == []
    assert get(seeded, "/api/v1/alerts", model="other")[1]["alerts"] == []
    assert len(get(seeded, "/api/v1/alerts", state="pending,firing", acknowledged="false")[1]["alerts"]) == 1
    assert get(seeded, "/api/v1/alerts", silenced="true")[1]["alerts"] == []
    assert get(seeded, "/api/v1/models")[1]["models"][0]["firing_alerts"] == 1

    status, body = get(seeded, "/api/v1/shadow-runs")
    assert [(r["version"], r["state"]) for r in body["shadow_runs"]] == [("4", "queued"), ("3", "failed")]
    status, body = get(seeded, "/api/v1/shadow-runs", state="failed")
    assert [r["error"] for r in body["shadow_runs"]] == ["no recorded inputs"]
    assert body["shadow_runs"][0]["report"] is None


BAD_FILTERS = [
    ("/api/v1/models", {"sort": "colour"}, "`sort`"),
    ("/api/v1/models", {"range": "2y"}, "`range`"),
    ("/api/v1/models", {"order": "up"}, "`order`"),
    ("/api/v1/findings", {"limit": "0"}, "`limit`"),
    ("/api/v1/findings", {"limit": "5000"}, "`limit`"),
    ("/api/v1/findings", {"offset": "-1"}, "`offset`"),
    ("/api/v1/findings", {"since": "yesterday"}, "`since`"),
    ("/api/v1/findings", {"firing": "maybe"}, "`firing`"),
    ("/api/v1/findings", {"modle": "fraud"}, "`modle`"),
    ("/api/v1/alerts", {"state": "firing,burning"}, "`state`"),
    ("/api/v1/alerts", {"silenced": "2"}, "`silenced`"),
    ("/api/v1/shadow-runs", {"state": "done"}, "`state`"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_filters_are_400s_that_name_the_parameter(running_service: RunningService) -> None:
    """Each bad value or unknown parameter is a 400 whose message names the parameter and what it takes."""
    for path, params, named in BAD_FILTERS:
        status, body = get(running_service, path, **params)
        assert status == 400, (path, params, body)
        assert named in body["error"], (path, params, body)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_lists_need_a_token_when_tokens_are_configured(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Without a token 401; an ingest token reads, as the gRPC List methods."""
    auth = AuthConfig(ingest_tokens=("reader",), admin_tokens=("boss",))
    service = start_service(replace(loopback_config(db_url, tmp_path / "spool"), auth=auth))
    for path in ("/api/v1/models", "/api/v1/findings", "/api/v1/alerts", "/api/v1/shadow-runs"):
        status, body = http_json(f"{service.http_base}{path}")
        assert status == 401, path
        assert "bearer token" in body["error"]
        status, body = http_json(f"{service.http_base}{path}", {"Authorization": "Bearer reader"})
        assert status == 200, (path, body)
