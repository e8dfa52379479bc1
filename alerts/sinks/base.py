"""The sink plugin interface and what it is handed: one notification of one aggregation group."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# Alertmanager's "not set" time, which its webhook payload carries as the endsAt of firing alerts.
ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(moment: datetime) -> str:
    """UTC with a Z, as Alertmanager writes times."""
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class NotifiedAlert:
    """One alert as a notification carries it."""

    fingerprint: str
    status: str  # "firing" or "resolved"
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str


@dataclass(frozen=True)
class Notification:
    """What one receiver is told about one aggregation group at one moment."""

    id: str
    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[NotifiedAlert, ...]
    # When this attempt is made: sinks that state an expiry (Alertmanager's endsAt) count from it.
    sent_at: datetime
    external_url: str = ""

    @property
    def status(self) -> str:
        """``firing`` while any alert in it fires, else ``resolved``."""
        return "firing" if any(alert.status == "firing" for alert in self.alerts) else "resolved"

    @property
    def common_labels(self) -> dict[str, str]:
        """Labels every alert shares with the same value."""
        return _common([alert.labels for alert in self.alerts])

    @property
    def common_annotations(self) -> dict[str, str]:
        """Annotations every alert shares with the same value."""
        return _common([alert.annotations for alert in self.alerts])


def _common(mappings: list[Mapping[str, str]]) -> dict[str, str]:
    if not mappings:
        return {}
    first = dict(mappings[0])
    return {key: value for key, value in first.items() if all(other.get(key) == value for other in mappings[1:])}


@dataclass(frozen=True)
class SendResult:
    """How a send went; ``retryable`` says whether trying again later can help (a 5xx, a timeout)."""

    ok: bool
    retryable: bool = True
    detail: str = ""
    # The receiver's HTTP status when it answered (None when it could not be reached, or is not HTTP).
    status_code: int | None = None


class AlertSink(Protocol):
    """Delivers notifications somewhere.

    ``send`` may block (the dispatcher calls it from a worker thread, never on the event loop) but should
    return within the timeout it was built with. It reports failure by returning ``SendResult(ok=False)``;
    it may also raise, and the dispatcher then treats the attempt as a retryable failure and logs it.
    ``resend_interval_s`` is None for sinks that are told only about changes and repeats; a sink that
    forgets alerts unless reminded (Alertmanager) sets it, and then gets every firing alert that often.
    """

    name: str
    resend_interval_s: float | None

    def send(self, notification: Notification) -> SendResult:
        """Deliver one notification."""


def post_json(url: str, body: Any, *, timeout_s: float, headers: Mapping[str, str] | None = None) -> SendResult:
    """POST a JSON document; 2xx is success, 408, 429, 5xx and network errors are worth retrying."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "inferwatch", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
            return SendResult(True, detail=f"HTTP {response.status}", status_code=response.status)
    except urllib.error.HTTPError as error:
        text = error.read(512).decode(errors="replace").strip()
        retryable = error.code in {408, 429} or error.code >= 500
        detail = f"HTTP {error.code} from {url}: {text}".strip()
        return SendResult(False, retryable=retryable, detail=detail, status_code=error.code)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return SendResult(False, retryable=True, detail=f"cannot reach {url}: {reason}")
