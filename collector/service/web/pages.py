"""The server-rendered pages: models, a model, a finding, alerts, shadow runs (actions are in ``actions``).

Every page reads the database off the event loop, through the same queries as the JSON list endpoints. With
tokens configured a page needs a session (``sessions``); a visitor without one is sent to the login form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from collector.core.findings import finding_to_json, get_finding
from collector.core.limits import INT64_MAX
from collector.service.auth import Role
from collector.service.web import actions
from collector.service.web.charts import Line, time_chart
from collector.service.web.context import WebContext
from collector.service.web.evidence import drift_histograms, history_chart
from collector.service.web.models import MODEL_PARAMS, SORT_KEYS, models_list, versions_of
from collector.service.web.params import RANGES, BadQuery, Query
from collector.service.web.queries import (
    ALERT_PARAMS,
    ALERT_STATUSES,
    FINDING_PARAMS,
    SHADOW_PARAMS,
    alert_status,
    alerts_list,
    findings_list,
    shadow_report,
    shadow_runs_list,
)
from collector.service.web.rendering import HEADERS, common, page
from collector.service.web.series import ModelSeries, model_series
from rightsize.advisor import RightsizeInputError, rightsize_with
from rightsize.report import to_text
from rightsize.service import DEFAULT_WINDOW as RIGHTSIZE_WINDOW

PageHandler = Callable[[web.Request, Role], Awaitable[web.StreamResponse]]
MODEL_PAGE_PARAMS = ("name", "version", "range")
# An alert's page filter: the statuses, plus "active" (everything not resolved), the default.
ALERT_VIEWS = ("active", *ALERT_STATUSES, "all")


def guarded(context: WebContext, handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Send a visitor without read access to the login form; answer a bad query parameter with 400."""

    async def handle(request: web.Request) -> web.StreamResponse:
        role = context.sessions.role_of(request, context.now_unix_s())
        if role < Role.INGEST:
            raise web.HTTPSeeOther(f"/login?{urlencode({'next': request.path_qs})}")
        try:
            return await handler(request, role)
        except BadQuery as error:
            return page("error.html", 400, **common(request, context, role, ""), message=str(error))

    return handle


def not_found(request: web.Request, context: WebContext, role: Role, message: str) -> web.Response:
    """A 404 page that says what was not found."""
    return page("error.html", 404, **common(request, context, role, ""), message=message)


@dataclass(frozen=True)
class RightsizingView:
    """The model page's right-sizing section: the answer's text, or what right-sizing still needs."""

    text: str
    missing: bool


def rightsizing_of(context: WebContext, name: str, version: str | None) -> RightsizingView | None:
    """``inferwatch rightsize`` for the model over the default window, as the page shows it (an answer up to
    a minute old: see ``WebContext.rightsizing_cache``)."""
    rightsize = context.rightsize
    if rightsize is None:
        return None
    now = context.clock()

    def compute() -> RightsizingView:
        try:
            result = rightsize_with(
                context.engine, rightsize, name, model_version=version, since=now - RIGHTSIZE_WINDOW, now=now
            )
        except RightsizeInputError as error:
            return RightsizingView(str(error), missing=True)
        return RightsizingView(to_text(result), missing=False)

    view = context.rightsizing_cache.get((name, version), now.timestamp(), compute)
    assert isinstance(view, RightsizingView)
    return view


def mount(app: web.Application, context: WebContext) -> None:
    """Add the pages and their form actions to ``app``."""

    async def models_page(request: web.Request, role: Role) -> web.StreamResponse:
        query = Query(request.query, MODEL_PARAMS)
        view = await asyncio.to_thread(models_list, context.engine, context.pricing, context.clock(), query)
        return page(
            "models.html",
            **common(request, context, role, "models"),
            view=view,
            sort_keys=SORT_KEYS,
            ranges=tuple(RANGES),
            model=query.text("model") or "",
            version=query.text("version") or "",
        )

    async def model_page(request: web.Request, role: Role) -> web.StreamResponse:
        query = Query(request.query, MODEL_PAGE_PARAMS)
        name = query.text("name")
        if name is None:
            raise BadQuery("`name` must name a model, as in /model?name=fraud")
        version = query.text("version")
        range_name, range_s = query.range_s()

        def load() -> dict[str, Any]:
            filters = {"model": name, "limit": "20", **({"version": version} if version else {})}
            return {
                "versions": versions_of(context.engine, name),
                "series": model_series(
                    context.engine,
                    name,
                    version,
                    pricing=context.pricing,
                    slos=context.slos,
                    now=context.clock(),
                    range_s=range_s,
                ),
                "findings": findings_list(context.engine, Query(filters, FINDING_PARAMS)).items,
                "alerts": alerts_list(
                    context.engine, Query(filters, ALERT_PARAMS), context.clock(), context.inhibit_rules
                ).items,
                "runs": shadow_runs_list(context.engine, Query(filters, SHADOW_PARAMS)).items,
                "rightsizing": rightsizing_of(context, name, version),
            }

        loaded = await asyncio.to_thread(load)
        return page(
            "model.html",
            **common(request, context, role, "models"),
            name=name,
            version=version or "",
            range_name=range_name,
            ranges=tuple(RANGES),
            charts=model_charts(loaded["series"]),
            alert_status=alert_status,
            **{key: value for key, value in loaded.items() if key != "series"},
        )

    async def finding_page(request: web.Request, role: Role) -> web.StreamResponse:
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > INT64_MAX:
            return not_found(request, context, role, f"no finding with id {raw}")

        def load() -> dict[str, Any] | None:
            found = get_finding(context.engine, int(raw))
            if found is None:
                return None
            return {
                "finding": found,
                "document": finding_to_json(found),
                "histograms": drift_histograms(context.engine, found),
                "history": history_chart(context.engine, found),
            }

        loaded = await asyncio.to_thread(load)
        if loaded is None:
            return not_found(request, context, role, f"no finding with id {raw}")
        report = loaded["finding"].details.get("report") or {}
        return page("finding.html", **common(request, context, role, "models"), report=report, **loaded)

    async def alerts_page(request: web.Request, role: Role) -> web.StreamResponse:
        # `done` is what the last action did, shown once after its redirect.
        query = Query(request.query, ("view", "done", *ALERT_PARAMS))
        view = query.choice("view", ALERT_VIEWS, "active")
        filters = {key: value for key, value in request.query.items() if key not in ("view", "done")}

        def load() -> dict[str, Any]:
            listed = alerts_list(context.engine, Query(filters, ALERT_PARAMS), context.clock(), context.inhibit_rules)
            shown = [
                alert
                for alert in listed.items
                if view == "all" or (view == "active" and alert.state != "resolved") or alert_status(alert) == view
            ]
            return {"alerts": shown, "next_offset": listed.next_offset, "silences": actions.silences(context)}

        loaded = await asyncio.to_thread(load)
        return page(
            "alerts.html",
            **common(request, context, role, "alerts"),
            view=view,
            views=ALERT_VIEWS,
            alert_status=alert_status,
            notice=query.text("done") or "",
            **loaded,
        )

    async def shadow_runs_page(request: web.Request, role: Role) -> web.StreamResponse:
        query = Query(request.query, SHADOW_PARAMS)
        listed = await asyncio.to_thread(shadow_runs_list, context.engine, query)
        return page("shadow_runs.html", **common(request, context, role, "shadow"), listed=listed)

    async def shadow_report_page(request: web.Request, role: Role) -> web.StreamResponse:
        run_id = request.match_info["id"]
        found = await asyncio.to_thread(shadow_report, context.engine, run_id)
        if found is None:
            return not_found(request, context, role, f"no shadow run with id {run_id}")
        run, html = found
        if html is None:
            return not_found(request, context, role, f"shadow run {run_id} ({run.state}) has no report")
        # The report is the CLI's file, whole: its own page, with the same no-fetch policy as every page.
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def favicon(request: web.Request) -> web.StreamResponse:
        # Browsers ask for it on pages without an icon (the JSON, a shadow report); none is a quiet answer.
        return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})

    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/", guarded(context, models_page))
    app.router.add_get("/model", guarded(context, model_page))
    app.router.add_get("/findings/{id}", guarded(context, finding_page))
    app.router.add_get("/alerts", guarded(context, alerts_page))
    app.router.add_get("/shadow-runs", guarded(context, shadow_runs_page))
    app.router.add_get("/shadow-runs/{id}/report", guarded(context, shadow_report_page))
    actions.mount(app, context)


def model_charts(series: ModelSeries) -> list[Any]:
    """The model page's charts, in reading order."""
    times = series.times
    step_min = series.step_s // 60
    charts = [
        time_chart(f"Requests per {step_min} min", times, [Line("requests", series.requests)]),
        time_chart(
            "Latency",
            times,
            [Line("p50", series.p50_ms), Line("p95", series.p95_ms), Line("p99", series.p99_ms)],
            unit=" ms",
            threshold=(f"SLO {series.latency_threshold_ms:g} ms", series.latency_threshold_ms)
            if series.latency_threshold_ms is not None
            else None,
        ),
        time_chart("Error rate", times, [Line("errors / requests", series.error_rate)]),
    ]
    if series.burn:
        charts.append(
            time_chart(
                "Error-budget burn rate",
                times,
                [Line(b.slo.name, b.burn) for b in series.burn],
                threshold=("burn 1 (budget lasts the period)", 1.0),
            )
        )
    else:
        charts.append(time_chart("Error-budget burn rate (no SLO for this model in [slo])", (), []))
    charts.append(
        time_chart(
            f"Spend by hardware class, $ per {step_min} min",
            times,
            [Line(name, values) for name, values in series.spend_by_hardware.items()],
        )
    )
    if series.spend_by_token:
        charts.append(
            time_chart(
                f"Spend by token type, $ per {step_min} min",
                times,
                [Line(name, values) for name, values in series.spend_by_token.items()],
            )
        )
    charts.append(
        time_chart(
            "Drift effect size per feature",
            times,
            [Line(name, values) for name, values in series.drift_by_feature.items()],
        )
    )
    return charts
