"""The JSON list endpoints: ``/api/v1/models``, ``/api/v1/findings``, ``/api/v1/alerts``, ``/api/v1/shadow-runs``.

Read access, as the gRPC ``List*`` methods: an ingest or admin bearer token, or a page session, when tokens
are configured. Every list takes ``limit`` (1 to 1000, default 100) and ``offset`` and answers its items with
``next_offset`` (null on the last page); a bad or unknown parameter is a 400 that names it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from alerts.store import alert_to_json
from collector.core.findings import finding_to_json
from collector.service.auth import Role, http_refusal
from collector.service.web.context import WebContext
from collector.service.web.models import MODEL_PARAMS, models_list, summary_to_json
from collector.service.web.params import BadQuery, Query
from collector.service.web.queries import (
    ALERT_PARAMS,
    FINDING_PARAMS,
    SHADOW_PARAMS,
    alert_status,
    alerts_list,
    findings_list,
    shadow_run_to_json,
    shadow_runs_list,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def read_refusal(request: web.Request, context: WebContext) -> web.Response | None:
    """401 unless the request's bearer token or page session may read; None when it may."""
    if context.sessions.role_of(request, context.now_unix_s()) >= Role.INGEST:
        return None
    refused = http_refusal(request.headers.get("Authorization"), context.sessions.auth, Role.INGEST)
    assert refused is not None
    return web.json_response({"error": refused.message}, status=refused.status, headers=refused.headers)


def _endpoint(context: WebContext, known: tuple[str, ...], build: Callable[[Query], dict[str, Any]]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        refused = read_refusal(request, context)
        if refused is not None:
            return refused
        try:
            query = Query(request.query, known)
            body = await asyncio.to_thread(build, query)
        except BadQuery as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(body)

    return handle


def mount(app: web.Application, context: WebContext) -> None:
    """Add the list endpoints to ``app``."""

    def models(query: Query) -> dict[str, Any]:
        view = models_list(context.engine, context.pricing, context.clock(), query)
        return {
            "models": [summary_to_json(s) for s in view.summaries],
            "range": view.range_name,
            "total": view.total,
            "next_offset": view.next_offset,
        }

    def findings(query: Query) -> dict[str, Any]:
        listed = findings_list(context.engine, query)
        return {"findings": [finding_to_json(f) for f in listed.items], "next_offset": listed.next_offset}

    def alerts(query: Query) -> dict[str, Any]:
        listed = alerts_list(context.engine, query, context.clock(), context.inhibit_rules)
        return {
            "alerts": [{**alert_to_json(a), "status": alert_status(a)} for a in listed.items],
            "next_offset": listed.next_offset,
        }

    def shadow_runs(query: Query) -> dict[str, Any]:
        listed = shadow_runs_list(context.engine, query)
        return {"shadow_runs": [shadow_run_to_json(r) for r in listed.items], "next_offset": listed.next_offset}

    app.router.add_get("/api/v1/models", _endpoint(context, MODEL_PARAMS, models))
    app.router.add_get("/api/v1/findings", _endpoint(context, FINDING_PARAMS, findings))
    app.router.add_get("/api/v1/alerts", _endpoint(context, ALERT_PARAMS, alerts))
    app.router.add_get("/api/v1/shadow-runs", _endpoint(context, SHADOW_PARAMS, shadow_runs))
