"""The Jinja2 environment of the pages and the headers every page is sent with."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final

import jinja2
from aiohttp import web

from collector.service.auth import Role
from collector.service.web.context import WebContext
from collector.service.web.sessions import COOKIE

# Nothing but this host: no script at all, styles only inline, images only inline. A page that tried to load
# anything from elsewhere would be blocked by the browser, and the tests check that none tries.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4g}"


def _moment(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("collector.service.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=_number, percent=_percent, usd=_usd, moment=_moment)
    return environment


ENVIRONMENT: Final = _environment()


def page(template: str, status: int = 200, **values: Any) -> web.Response:
    """A rendered template as an HTML response with the pages' headers."""
    body = ENVIRONMENT.get_template(template).render(**values)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def common(request: web.Request, context: WebContext, role: Role, section: str) -> dict[str, Any]:
    """What the layout of every page needs: where we are, who is looking, and the form token."""
    session = context.sessions.read(request.cookies.get(COOKIE), context.now_unix_s())
    return {
        "section": section,
        "role": role,
        "is_admin": role >= Role.ADMIN,
        "auth_enabled": context.sessions.auth is not None,
        "signed_in": session is not None,
        "csrf": context.sessions.csrf_token(session),
        "path": request.path_qs,
    }
