"""Prometheus Alertmanager through its v2 API: ``POST /api/v2/alerts``.

Alertmanager forgets an alert at its ``endsAt`` (``resolve_timeout``, 5 minutes, when none is given), so
every firing alert is sent again every ``resend_interval`` (default 1 minute) with ``endsAt`` four resend
intervals ahead, as Prometheus does: a lost request or two never resolves an alert that still fires.
Resolved alerts carry the time they resolved as ``endsAt``. Alertmanager does its own grouping, so the
dispatcher sends this sink each alert as it changes and every firing one at each resend.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from alerts.config import parse_duration
from alerts.sinks import check_unknown, option
from alerts.sinks.base import Notification, SendResult, post_json, rfc3339

ENDS_AT_RESENDS = 4


def alertmanager_alerts(notification: Notification, resend_interval_s: float) -> list[dict[str, Any]]:
    """The v2 API body: one postableAlert per alert."""
    expires = notification.sent_at + timedelta(seconds=ENDS_AT_RESENDS * resend_interval_s)
    body = []
    for alert in notification.alerts:
        ends_at = alert.ends_at if alert.status == "resolved" and alert.ends_at else expires
        body.append(
            {
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": rfc3339(alert.starts_at),
                "endsAt": rfc3339(ends_at),
                "generatorURL": alert.generator_url,
            }
        )
    return body


class AlertmanagerSink:
    """Options: ``url`` (or ``urls``: every peer of an HA cluster, which does not share alerts), ``resend_interval``."""

    def __init__(self, name: str, options: Mapping[str, Any], *, timeout_s: float = 10.0) -> None:
        check_unknown(options, {"url", "urls", "resend_interval"})
        self.name = name
        urls = option(options, "urls", list, [])
        single = option(options, "url", str)
        if single:
            urls = [single, *urls]
        if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            raise ValueError(f"`url` (or `urls`) must name http:// or https:// Alertmanager URLs, got {urls!r}")
        self.urls: tuple[str, ...] = tuple(url.rstrip("/") for url in urls)
        raw = options.get("resend_interval", "1m")
        try:
            self.resend_interval_s: float | None = parse_duration(raw)
        except ValueError as error:
            raise ValueError(f"`resend_interval` {raw!r}: {error}") from None
        if not self.resend_interval_s:
            raise ValueError(f"`resend_interval` must be > 0, got {raw!r}")
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> SendResult:
        """Posts to every peer; succeeds only when all took it (a retry re-posts, which Alertmanager dedups)."""
        assert self.resend_interval_s is not None
        body = alertmanager_alerts(notification, self.resend_interval_s)
        results = [post_json(f"{url}/api/v2/alerts", body, timeout_s=self._timeout_s) for url in self.urls]
        failures = [result for result in results if not result.ok]
        if not failures:
            return SendResult(
                True,
                detail=f"posted {len(body)} alert(s) to {len(self.urls)} Alertmanager(s), {results[0].detail}",
                status_code=results[0].status_code,
            )
        return SendResult(
            False,
            retryable=any(failure.retryable for failure in failures),
            detail="; ".join(failure.detail for failure in failures),
            status_code=failures[0].status_code,
        )
