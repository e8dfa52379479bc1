"""The pages in a real browser (Debian's Chromium through Playwright) on data from a real run.

Every page is opened, screenshotted into the test's output folder, and checked to request nothing off this
host and to log no console error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.web.browser import Watched, chromium, watch
from tests.integration.web.site import ADMIN, READER, Site, site

__all__ = ["chromium", "site"]  # fixtures, imported so pytest finds them
DATA_DRIFT = "ModelDataDrift"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (``INFERWATCH_SCREENSHOTS``, else a temporary folder); printed, so a person can
    open them."""
    chosen = os.environ.get("INFERWATCH_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\npage screenshots: {folder}")
    return folder


def sign_in(watched: Watched, token: str) -> None:
    """Open /, land on the login form, and sign in with ``token``."""
    watched.open("/")
    assert watched.page.url.startswith(watched.base + "/login")
    watched.page.fill("#token", token)
    watched.page.click("button[type=submit]")
    watched.page.wait_for_load_state("load")
    assert watched.page.url == watched.base + "/"


def assert_clean(watched: Watched) -> None:
    """Nothing was requested off-host and nothing was logged as an error."""
    assert watched.off_host() == []
    assert watched.console_errors == []


def evidence_url(site: Site) -> str:
    """The evidence link of the data-drift alert as the webhook received it."""
    alerts = [alert for body in site.receiver.received() for alert in body["alerts"]]
    (url,) = {a["annotations"]["evidence_url"] for a in alerts if a["labels"]["alertname"] == DATA_DRIFT}
    return str(url)


def check_models_page(watched: Watched) -> None:
    """fraud 3: traffic of the last hour, p50 near 20 ms, one error in 30, drift, two firing alerts; iris has a
    shadow verdict; a column header sorts."""
    page = watched.page
    watched.shot("models")
    cells = page.locator("#models tbody tr", has_text="fraud").first.locator("td").all_inner_texts()
    assert cells[0].split() == ["fraud", "3"]
    assert cells[1] == "300"
    assert re.fullmatch(r"(1\d|2\d)(\.\d+)?", cells[2]), cells
    assert cells[4] == "3.33%"
    assert cells[7] == "drift"
    assert cells[8] == "2"  # data drift and multivariate drift
    iris = page.locator("#models tbody tr", has_text="iris").first.locator("td").all_inner_texts()
    assert iris[9] in ("switch", "keep")
    page.click("#models th a:has-text('p99')")
    page.wait_for_load_state("load")
    assert "sort=p99_ms" in page.url


def svg_text(page: Any, label: str) -> str:
    """The text inside the chart with this label (its legend, axes and threshold names)."""
    return str(page.text_content(f"svg[aria-label='{label}']"))


def check_model_page(watched: Watched) -> None:
    """Charts of requests, latency against the SLO, errors, burn, spend and drift per feature; a range picker."""
    page = watched.page
    page.locator("a.model-link", has_text="fraud").first.click()
    page.wait_for_load_state("load")
    assert page.url.startswith(watched.base + "/model?name=fraud")
    assert page.locator("svg.chart").count() >= 5
    assert page.locator("svg.chart polyline").count() >= 4
    assert "SLO 50 ms" in svg_text(page, "Latency")
    assert "latency<50ms@99%" in svg_text(page, "Error-budget burn rate")
    watched.shot("model")
    # The drift window ended an hour or more ago: it is in the last 24 h, not in the last hour.
    page.select_option("#range", "24h")
    page.click("#filters button")
    page.wait_for_load_state("load")
    assert "range=24h" in page.url
    assert "amount" in svg_text(page, "Drift effect size per feature")
    watched.shot("model-24h")


def check_finding_from_alert(watched: Watched, site: Site) -> None:
    """The alert's evidence link opens the finding: statistics, correction, a histogram per feature (drifted
    first), and the raw JSON one click away."""
    page = watched.page
    watched.open("/alerts")
    watched.shot("alerts")
    assert page.locator("#alerts > tbody > tr").count() == 2
    row = page.locator("#alerts > tbody > tr", has_text=DATA_DRIFT)
    row.locator("details summary").click()  # the delivery log folds open
    assert "sent" in row.locator("table.deliveries").inner_text()
    assert page.locator("form.ack").count() == 0  # a read-only session gets no forms
    row.locator("a.evidence").click()
    page.wait_for_load_state("load")
    assert page.url == evidence_url(site)
    watched.shot("finding")
    assert "input features" in page.inner_text("#summary")
    assert page.inner_text("#correction")
    assert "amount" in page.inner_text("#statistics")
    assert "drifted" in page.inner_text("#statistics")
    assert page.locator(".histogram svg").count() == 3
    assert page.locator(".histogram h3").first.inner_text() == "amount"
    page.click("#raw-json")
    page.wait_for_load_state("load")
    assert re.search(r'"detector":\s*"drift.data"', page.inner_text("body"))


def test_models_to_model_to_finding_from_the_alert_link(chromium: Any, site: Site, screenshots: Path) -> None:
    """Sign in (a wrong token is refused); the models page; a model's charts; the finding from the alert's
    evidence link; the shadow run's report as the CLI wrote it."""
    watched = watch(chromium, site.base, screenshots)
    page = watched.page
    watched.open("/")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    assert "not an ingest or admin token" in page.inner_text("#error")
    watched.console_errors.clear()  # the refused sign-in answers 401, which Chromium logs as an error
    page.fill("#token", READER)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    check_models_page(watched)
    check_model_page(watched)
    check_finding_from_alert(watched, site)
    watched.open("/shadow-runs")
    watched.shot("shadow-runs")
    page.click("a.report-link")
    page.wait_for_load_state("load")
    assert page.url == f"{site.base}/shadow-runs/{site.shadow_run_id}/report"
    assert page.locator("svg").count() >= 1
    watched.shot("shadow-report")
    assert_clean(watched)


def test_forged_posts_change_nothing(chromium: Any, site: Site, screenshots: Path) -> None:
    """Posts without the CSRF token, with a wrong one, from another origin, or from a read-only session are
    403s, and the alert stays unacknowledged."""
    admin, reader = watch(chromium, site.base, screenshots), watch(chromium, site.base, screenshots)
    sign_in(admin, ADMIN)
    sign_in(reader, READER)
    (cookie,) = admin.page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("inferwatch_session", True, "Lax")
    admin.open("/alerts")
    row = admin.page.locator("#alerts > tbody > tr", has_text=DATA_DRIFT)
    url = f"{site.base}/alerts/{row.get_attribute('data-fingerprint')}/acknowledge"
    csrf = row.locator("form.ack input[name=csrf_token]").input_value()
    missing = admin.page.request.post(url, form={"by": "mallory"})
    assert missing.status == 403
    assert "CSRF" in missing.text()
    assert admin.page.request.post(url, form={"by": "mallory", "csrf_token": "forged"}).status == 403
    cross_site = admin.page.request.post(
        url, form={"by": "mallory", "csrf_token": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status == 403
    assert reader.page.request.post(url, form={"by": "mallory", "csrf_token": csrf}).status == 403
    admin.open("/alerts")
    assert "mallory" not in admin.page.inner_text("#alerts")
    assert_clean(admin)


def test_admin_acknowledges_silences_and_expires_on_a_phone(chromium: Any, site: Site, screenshots: Path) -> None:
    """At a phone's width, an admin acknowledges the alert, silences it for 4 h, and expires the silence."""
    admin = watch(chromium, site.base, screenshots, width=390)
    sign_in(admin, ADMIN)
    page = admin.page
    admin.open("/alerts")
    row = page.locator("#alerts > tbody > tr", has_text=DATA_DRIFT)
    row.locator("form.ack input[name=by]").fill("anna")
    row.locator("form.ack button").click()
    page.wait_for_load_state("load")
    assert "acknowledged" in page.inner_text("#notice")
    admin.open("/alerts?view=acknowledged")
    assert "by anna" in page.inner_text("#alerts")
    admin.shot("alerts-acknowledged-phone")

    row = page.locator("#alerts > tbody > tr", has_text=DATA_DRIFT)
    row.locator("form.silence input[name=by]").fill("anna")
    row.locator("form.silence select[name=duration]").select_option("4h")
    row.locator("form.silence button").click()
    page.wait_for_load_state("load")
    assert "silenced" in page.inner_text("#notice")
    admin.open("/alerts?view=silenced")
    assert page.locator("#alerts > tbody > tr").count() == 1
    assert 'alertname="ModelDataDrift"' in page.inner_text("#silences")
    admin.shot("alerts-silenced-phone")
    page.click("form.expire button")
    page.wait_for_load_state("load")
    assert "expired" in page.inner_text("#notice")
    assert page.locator("#silences").count() == 0
    assert_clean(admin)
