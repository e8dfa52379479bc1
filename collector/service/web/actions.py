"""What the pages change: signing in and out, and (admin) acknowledging, silencing and expiring silences.

Every change is a form POST that carries the session's CSRF token and, when the browser sends one, an Origin
of this host; either missing or wrong is a 403 and nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from alerts.model import Matcher, Silence
from alerts.store import NotFoundError, acknowledge, create_silence, expire_silence, get_alert, list_silences
from collector.service.auth import Role
from collector.service.web.context import WebContext
from collector.service.web.rendering import common, page
from collector.service.web.sessions import COOKIE, CSRF_FIELD, SESSION_S, safe_next

SILENCE_DURATIONS: Final = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(days=1)}
Action = Callable[[web.Request, dict[str, str]], Awaitable[str]]


def silences(context: WebContext) -> list[Silence]:
    """Silences that hold now or will, for the alerts page."""
    return list_silences(context.engine, context.clock())


def _refused(request: web.Request, context: WebContext, status: int, message: str) -> web.Response:
    role = context.sessions.role_of(request, context.now_unix_s())
    return page("error.html", status, **common(request, context, role, ""), message=message)


def admin_action(context: WebContext, act: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An admin's form post: the role, the origin and the CSRF token are checked before ``act`` runs."""

    async def handle(request: web.Request) -> web.StreamResponse:
        role = context.sessions.role_of(request, context.now_unix_s())
        if role < Role.ADMIN:
            needed = "sign in with an admin token" if role < Role.INGEST else "this needs an admin token"
            return _refused(request, context, 403, f"{needed} to change alerts and silences")
        form = {key: str(value) for key, value in (await request.post()).items()}
        refusal = context.sessions.check_form(request, form.get(CSRF_FIELD), context.now_unix_s())
        if refusal is not None:
            return _refused(request, context, 403, refusal)
        try:
            done = await act(request, form)
        except NotFoundError as error:
            return _refused(request, context, 404, str(error))
        except ValueError as error:
            return _refused(request, context, 400, str(error))
        raise web.HTTPSeeOther(f"/alerts?{urlencode({'done': done})}")

    return handle


def mount(app: web.Application, context: WebContext) -> None:
    """Add the login form and the admin actions to ``app``."""

    async def login_form(request: web.Request) -> web.StreamResponse:
        target = safe_next(request.query.get("next"))
        if context.sessions.auth is None:
            raise web.HTTPSeeOther(target)
        return _login_page(request, context, target, "", 200)

    async def login(request: web.Request) -> web.StreamResponse:
        form = {key: str(value) for key, value in (await request.post()).items()}
        target = safe_next(form.get("next"))
        refusal = context.sessions.check_form(request, form.get(CSRF_FIELD), context.now_unix_s(), anonymous=True)
        if refusal is not None:
            return _login_page(request, context, target, refusal, 403)
        role = context.sessions.login_role(form.get("token", ""))
        if role is None:
            return _login_page(request, context, target, "that token is not an ingest or admin token", 401)
        response = web.HTTPSeeOther(target)
        response.set_cookie(
            COOKIE,
            context.sessions.issue(role, context.now_unix_s()),
            max_age=SESSION_S,
            path="/",
            httponly=True,
            # Lax, not Strict: an alert's evidence link followed from a chat or a mail is a cross-site
            # navigation, and Strict would send the on-call engineer to the login form every time. Cross-site
            # posts still go without the cookie, and every post needs the session's CSRF token besides.
            samesite="Lax",
            secure=request.secure,
        )
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    async def acknowledge_alert(request: web.Request, form: dict[str, str]) -> str:
        fingerprint = request.match_info["fingerprint"]
        await asyncio.to_thread(
            acknowledge, context.engine, fingerprint, form.get("by", ""), form.get("comment", ""), context.clock()
        )
        return f"acknowledged {fingerprint}"

    async def silence_alert(request: web.Request, form: dict[str, str]) -> str:
        fingerprint = request.match_info["fingerprint"]
        duration = SILENCE_DURATIONS.get(form.get("duration", ""))
        if duration is None:
            raise ValueError(f"`duration` must be one of {', '.join(SILENCE_DURATIONS)}, got {form.get('duration')!r}")
        now = context.clock()
        alert = await asyncio.to_thread(get_alert, context.engine, fingerprint, now, context.inhibit_rules)
        # Every identifying label but severity: the silence holds if the same condition changes severity.
        matchers = [Matcher(name, value) for name, value in sorted(alert.labels.items()) if name != "severity"]
        silence = await asyncio.to_thread(
            create_silence,
            context.engine,
            matchers,
            starts_at=now,
            ends_at=now + duration,
            created_by=form.get("by", ""),
            comment=form.get("comment", ""),
        )
        return f"silenced {fingerprint} for {form['duration']} (silence {silence.id})"

    async def expire(request: web.Request, form: dict[str, str]) -> str:
        silence_id = request.match_info["id"]
        await asyncio.to_thread(expire_silence, context.engine, silence_id, context.clock())
        return f"expired silence {silence_id}"

    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/alerts/{fingerprint}/acknowledge", admin_action(context, acknowledge_alert))
    app.router.add_post("/alerts/{fingerprint}/silence", admin_action(context, silence_alert))
    app.router.add_post("/silences/{id}/expire", admin_action(context, expire))


def _login_page(request: web.Request, context: WebContext, target: str, error: str, status: int) -> web.Response:
    values: dict[str, Any] = {
        "section": "login",
        "role": Role.NONE,
        "is_admin": False,
        "auth_enabled": True,
        "signed_in": False,
        "csrf": context.sessions.csrf_token(None),
        "path": request.path_qs,
    }
    return page("login.html", status, **values, next=target, error=error)
