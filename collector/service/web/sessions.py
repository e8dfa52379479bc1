"""Who a page request comes from: a bearer token, or a session cookie started from one on the login form.

The cookie is signed, not stored: ``role.expiry.nonce.signature``, HMAC-SHA256 under a key derived from the
configured tokens, so every replica behind a load balancer accepts it and changing the tokens ends every
session. Without tokens the service answers on loopback only (as the API does) and the key is random per
process. Forms that change something carry a CSRF token, an HMAC of the session's nonce: another site can
make a browser send the cookie, but cannot read a page to learn the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from collector.core.config import AuthConfig
from collector.service.auth import Role, caller_role

COOKIE: Final = "inferwatch_session"
SESSION_S: Final = 12 * 3600
CSRF_FIELD: Final = "csrf_token"
# A session-less visitor of a service without tokens gets this nonce: its CSRF token is still secret.
ANONYMOUS: Final = "anonymous"


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: what its token allowed, until when, and the nonce its CSRF token derives from."""

    role: Role
    expires_unix_s: int
    nonce: str


class SessionKeys:
    """Signs and checks session cookies and CSRF tokens."""

    def __init__(self, auth: AuthConfig | None) -> None:
        self.auth = auth if auth is not None and auth.enabled else None
        if self.auth is None:
            self._key = secrets.token_bytes(32)
        else:
            material = "\0".join(sorted(self.auth.admin_tokens)) + "\1" + "\0".join(sorted(self.auth.ingest_tokens))
            self._key = hashlib.sha256(b"inferwatch session key\0" + material.encode()).digest()

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, role: Role, now_unix_s: int) -> str:
        """A cookie value for ``role``, valid for ``SESSION_S``."""
        body = f"{int(role)}.{now_unix_s + SESSION_S}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def read(self, cookie: str | None, now_unix_s: int) -> WebSession | None:
        """The session a cookie holds, or None when it is missing, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 3:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        role, expires, nonce = body.split(".")
        if not (role.isdigit() and expires.isdigit()) or int(expires) <= now_unix_s:
            return None
        try:
            return WebSession(Role(int(role)), int(expires), nonce)
        except ValueError:
            return None

    def csrf_token(self, session: WebSession | None) -> str:
        """The token a form of this session must send back."""
        return self._sign("csrf:" + (session.nonce if session is not None else ANONYMOUS))

    def role_of(self, request: web.Request, now_unix_s: int) -> Role:
        """What the request may do: everything without tokens; else what its bearer token or session allows."""
        if self.auth is None:
            return Role.ADMIN
        bearer = caller_role(request.headers.get("Authorization"), self.auth)
        if bearer is not None:
            return bearer
        session = self.read(request.cookies.get(COOKIE), now_unix_s)
        return session.role if session is not None else Role.NONE

    def login_role(self, token: str) -> Role | None:
        """The role a token typed into the login form grants, or None."""
        if self.auth is None or not token.strip():
            return None
        return caller_role(f"Bearer {token.strip()}", self.auth)

    def check_form(
        self, request: web.Request, form_token: str | None, now_unix_s: int, *, anonymous: bool = False
    ) -> str | None:
        """Why a state-changing form post is refused (wrong origin, missing or wrong CSRF token), or None.
        ``anonymous`` checks the token of no session: the login form's, whatever cookie the browser holds."""
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            return f"cross-site request refused: Origin {origin} is not this service ({request.host})"
        if origin == "null":
            return "cross-site request refused: Origin null"
        session = None if anonymous else self.read(request.cookies.get(COOKIE), now_unix_s)
        if not form_token or not hmac.compare_digest(form_token, self.csrf_token(session)):
            return "missing or wrong CSRF token: reload the page and submit the form again"
        return None


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else (another host, a scheme) goes to ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
