"""The pages over plain HTTP: without tokens they open on loopback; with tokens they need a session; bad
parameters are 400 pages; every page forbids loading anything from elsewhere."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from collector.core.config import AuthConfig, Config
from collector.core.storage.engine import create_engine_for
from collector.service.web.rendering import CONTENT_SECURITY_POLICY
from tests.integration.http_helpers import http_get, http_json
from tests.integration.service_harness import RunningService, loopback_config
from tests.integration.web.seed import seed_findings, seed_rollups, seed_shadow_runs

PAGES = ("/", "/?sort=p99_ms&order=asc&range=7d", "/model?name=fraud", "/model?name=fraud&version=3&range=30d",
         "/alerts", "/alerts?view=all", "/shadow-runs")  # fmt: skip


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Leave redirects to the test."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get_without_redirect(url: str, cookie: str = "") -> tuple[int, str]:
    """Status and Location of a GET that is not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_page_opens_without_tokens_with_a_strict_policy(running_service: RunningService) -> None:
    """Without tokens every page is 200 HTML with a Content-Security-Policy that allows nothing from elsewhere;
    the finding page of a latency finding draws actual against expected."""
    engine = create_engine_for(running_service.config.storage.db_url)
    try:
        now = datetime.now(tz=UTC)
        seed_rollups(engine, now)
        seed_findings(engine, now)
        seed_shadow_runs(engine)
    finally:
        engine.dispose()
    for path in PAGES:
        status, body, headers = http_get(running_service.http_base + path)
        assert status == 200, (path, body[:300])
        if path.startswith("/model?"):  # no SLO configured: the right-sizing section says what it needs
            assert "cannot right-size fraud" in body
            assert "no latency SLO" in body or "[slo.fraud]" in body
        assert headers["Content-Type"].startswith("text/html")
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "default-src 'none'" in CONTENT_SECURITY_POLICY
        assert "<script" not in body
    _, firing = http_json(running_service.http_base + "/api/v1/findings?firing=true")
    finding_id = firing["findings"][0]["id"]
    status, body, _ = http_get(f"{running_service.http_base}/findings/{finding_id}")
    assert status == 200
    assert "actual and expected per window" in body
    assert body.count("<polyline") == 3  # actual, expected and the band's top over five windows
    assert f'href="/api/v1/findings/{finding_id}"' in body
    status, location = get_without_redirect(running_service.http_base + "/login?next=/alerts")
    assert (status, location) == (303, "/alerts")


BAD_REQUESTS = [
    ("/?sort=colour", 400, "`sort` must be one of"),
    ("/?range=2y", 400, "`range` must be one of"),
    ("/model", 400, "`name` must name a model"),
    ("/alerts?view=loud", 400, "`view` must be one of"),
    ("/alerts?colour=red", 400, "unknown query parameter `colour`"),
    ("/findings/abc", 404, "no finding with id abc"),
    ("/findings/99999999999999999999", 404, "no finding with id"),
    ("/findings/42", 404, "no finding with id 42"),
    ("/shadow-runs/nope/report", 404, "no shadow run with id nope"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_requests_are_pages_that_say_what_was_wrong(running_service: RunningService) -> None:
    """A bad parameter or a missing thing is an HTML page with the status and the reason."""
    for path, status, says in BAD_REQUESTS:
        got, body, headers = http_get(running_service.http_base + path)
        assert got == status, path
        assert headers["Content-Type"].startswith("text/html"), path
        assert says in body.replace("&#96;", "`"), (path, body[-600:])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_with_tokens_pages_need_a_session(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Without a session a page sends the visitor to the login form (coming back to the page); a forged or
    tampered cookie is no session; a bearer token also opens a page; `next` never leaves the host."""
    auth = AuthConfig(ingest_tokens=("reader",), admin_tokens=("boss",))
    service = start_service(replace(loopback_config(db_url, tmp_path / "spool"), auth=auth))
    base = service.http_base
    status, location = get_without_redirect(base + "/alerts?view=all")
    assert status == 303
    assert urlsplit(location).path == "/login"
    assert parse_qs(urlsplit(location).query)["next"] == ["/alerts?view=all"]
    assert get_without_redirect(base + "/", cookie="inferwatch_session=2.9999999999.x.forged")[0] == 303
    assert http_get(base + "/", {"Authorization": "Bearer reader"})[0] == 200
    status, body, _ = http_get(base + "/login?next=//evil.example/")
    assert status == 200
    assert 'name="next" value="/"' in body
    assert http_get(base + "/api/v1/findings/1")[0] == 401
