"""Session cookies and CSRF tokens of the pages: signed, expiring, bound to the configured tokens."""

from __future__ import annotations

import pytest

from collector.core.config import AuthConfig
from collector.service.auth import Role
from collector.service.web.sessions import SESSION_S, SessionKeys, safe_next

AUTH = AuthConfig(ingest_tokens=("reader",), admin_tokens=("boss",))
NOW = 1_800_000_000


def test_a_cookie_reads_back_until_it_expires() -> None:
    """The role and expiry read back; at expiry the cookie is no session."""
    keys = SessionKeys(AUTH)
    cookie = keys.issue(Role.ADMIN, NOW)
    session = keys.read(cookie, NOW + 10)
    assert session is not None
    assert (session.role, session.expires_unix_s) == (Role.ADMIN, NOW + SESSION_S)
    assert keys.read(cookie, NOW + SESSION_S) is None


def test_tampered_forged_and_foreign_cookies_are_no_session() -> None:
    """A cookie whose role or expiry was edited, a made-up one, and one signed under other tokens all fail."""
    keys = SessionKeys(AUTH)
    cookie = keys.issue(Role.INGEST, NOW)
    role, expires, nonce, signature = cookie.split(".")
    assert keys.read(f"2.{expires}.{nonce}.{signature}", NOW) is None
    assert keys.read(f"{role}.{int(expires) + 1}.{nonce}.{signature}", NOW) is None
    assert keys.read("2.9999999999.x.forged", NOW) is None
    assert keys.read("", NOW) is None
    assert keys.read("a.b", NOW) is None
    other = SessionKeys(AuthConfig(admin_tokens=("someone-else",)))
    assert other.read(cookie, NOW) is None
    # Replicas with the same tokens accept each other's sessions.
    assert SessionKeys(AUTH).read(cookie, NOW) is not None


def test_csrf_tokens_belong_to_their_session() -> None:
    """Each session has its own CSRF token; the anonymous one differs from both."""
    keys = SessionKeys(AUTH)
    first, second = (keys.read(keys.issue(Role.ADMIN, NOW), NOW) for _ in range(2))
    tokens = {keys.csrf_token(first), keys.csrf_token(second), keys.csrf_token(None)}
    assert len(tokens) == 3


def test_login_takes_only_configured_tokens() -> None:
    """The login form's token grants its role; anything else nothing."""
    keys = SessionKeys(AUTH)
    assert keys.login_role("boss") is Role.ADMIN
    assert keys.login_role(" reader ") is Role.INGEST
    assert keys.login_role("guess") is None
    assert keys.login_role("") is None
    assert SessionKeys(None).login_role("boss") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/alerts?view=all", "/alerts?view=all"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("alerts", "/"),
    ],
)
def test_after_signing_in_only_local_paths(target: str | None, expected: str) -> None:
    """`next` stays on this host."""
    assert safe_next(target) == expected
