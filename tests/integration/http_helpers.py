"""Plain HTTP GETs against the service, without raising on 4xx and 5xx."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    """GET a URL; return status, body and headers, without raising on 4xx/5xx."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def http_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET a URL and decode its JSON body."""
    status, body, _ = http_get(url, headers)
    return status, json.loads(body)
