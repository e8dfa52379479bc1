"""The HTTP side of the service: liveness, readiness, Prometheus metrics, the JSON API and the pages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from collector.core.config import AuthConfig
from collector.core.errors import InferwatchError
from collector.core.limits import INT64_MAX
from collector.core.metrics import EXPOSITION_CONTENT_TYPE, ServiceMetrics
from collector.service.auth import Role, http_refusal
from collector.service.protocol_log import install_wrong_protocol_filter
from collector.service.readiness import Readiness
from collector.service.web import api as web_api
from collector.service.web import pages as web_pages
from collector.service.web.context import WebContext

# A readiness probe that hangs is worse than one that says no: kubelet's default probe timeout is 1 s.
READINESS_TIMEOUT_S = 2.0

# Ids are BIGINT: more digits than this is no id at all (and int() of a huge string costs time).
MAX_ID_DIGITS = 19

ReadinessCheck = Callable[[], Awaitable[Readiness]]
# A finding's JSON by id, or None when there is none; alert notifications link here as their evidence.
FindingLookup = Callable[[int], Awaitable[dict[str, Any] | None]]


def split_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` into a host and an integer port."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class AiohttpService:
    """An aiohttp application served on ``addr`` as an async context manager; subclasses build the app."""

    # What the server is, for the error when its address cannot be bound.
    what = "HTTP"

    def __init__(self, addr: str) -> None:
        self._addr = addr
        self._runner: web.AppRunner | None = None
        self.port = 0

    def build_app(self) -> web.Application:
        """The application to serve."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        install_wrong_protocol_filter()
        host, port = split_addr(self._addr)
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            await runner.cleanup()
            raise InferwatchError(f"cannot listen for {self.what} on {self._addr}: {error.strerror}") from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class HttpServer(AiohttpService):
    """Health, readiness, metrics, the JSON API and, given a ``web`` context, the list endpoints and pages."""

    def __init__(
        self,
        addr: str,
        *,
        metrics: ServiceMetrics,
        readiness: ReadinessCheck,
        findings: FindingLookup | None = None,
        auth: AuthConfig | None = None,
        web: WebContext | None = None,
    ) -> None:
        super().__init__(addr)
        self._web = web
        self._metrics = metrics
        self._readiness = readiness
        self._findings = findings
        self._auth = auth if auth is not None and auth.enabled else None

    def build_app(self) -> web.Application:
        """The routes, with a middleware that counts every response by route and status."""

        @web.middleware
        async def count(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            route = request.match_info.route.resource
            name = route.canonical if route is not None else "unmatched"
            try:
                response = await handler(request)
            except web.HTTPException as error:
                self._metrics.http_requests.labels(route=name, status=str(error.status)).inc()
                raise
            self._metrics.http_requests.labels(route=name, status=str(response.status)).inc()
            return response

        app = web.Application(middlewares=[count])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        if self._findings is not None:
            app.router.add_get("/api/v1/findings/{id}", self.finding)
        if self._web is not None:
            web_api.mount(app, self._web)
            web_pages.mount(app, self._web)
        return app

    def _refusal(self, request: web.Request, needed: Role) -> web.Response | None:
        """401 or 403 when tokens are configured and the request's bearer token does not grant ``needed``."""
        if self._web is not None and needed is Role.INGEST:
            # A page session reads too, so a finding page's raw JSON link opens in the same browser.
            return web_api.read_refusal(request, self._web)
        refused = http_refusal(request.headers.get("Authorization"), self._auth, needed)
        if refused is None:
            return None
        return web.json_response({"error": refused.message}, status=refused.status, headers=refused.headers)

    async def finding(self, request: web.Request) -> web.Response:
        """One finding as JSON: the evidence an alert links to (read access, as gRPC GetFinding)."""
        assert self._findings is not None
        refused = self._refusal(request, Role.INGEST)
        if refused is not None:
            return refused
        raw = request.match_info["id"]
        # ASCII digits only: str.isdigit() is true for "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit()):
            return web.json_response({"error": f"finding id must be a number, got {raw!r}"}, status=400)
        if len(raw) > MAX_ID_DIGITS or int(raw) > INT64_MAX:
            return web.json_response({"error": f"no finding with id {raw}"}, status=404)
        found = await self._findings(int(raw))
        if found is None:
            return web.json_response({"error": f"no finding with id {raw}"}, status=404)
        return web.json_response(found)

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness: the event loop answers. It never touches the database: a slow one must not restart us."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Readiness: 200 when the database is reachable and its schema is at head, else 503 with reasons."""
        started = time.perf_counter()
        try:
            verdict = await asyncio.wait_for(self._readiness(), READINESS_TIMEOUT_S)
        except TimeoutError:
            verdict = Readiness(False, {"database": f"no answer within {READINESS_TIMEOUT_S:g} s"})
        self._metrics.readiness_check_seconds.observe(time.perf_counter() - started)
        self._metrics.ready.set(1 if verdict.ready else 0)
        body = {"status": "ready" if verdict.ready else "not ready", "checks": verdict.checks}
        return web.json_response(body, status=200 if verdict.ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition of the service's own metrics, rendered off the event loop so a scrape never
        holds up an export."""
        body = await asyncio.to_thread(self._metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": EXPOSITION_CONTENT_TYPE})
