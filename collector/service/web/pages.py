"""The server-rendered pages (filled in by the next change)."""

from __future__ import annotations

from aiohttp import web

from collector.service.web.context import WebContext


def mount(app: web.Application, context: WebContext) -> None:
    """Add the pages to ``app``."""
