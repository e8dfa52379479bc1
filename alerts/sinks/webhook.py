"""A generic webhook: Alertmanager's webhook payload, version 4, so existing receivers work unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.sinks import check_unknown, option
from alerts.sinks.base import ZERO_TIME, Notification, SendResult, post_json, rfc3339


def webhook_payload(notification: Notification, *, max_alerts: int = 0) -> dict[str, Any]:
    """The JSON document Alertmanager 0.25 posts to a webhook, field for field."""
    alerts = notification.alerts
    shown = alerts[:max_alerts] if max_alerts else alerts
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(shown),
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": notification.external_url,
        "alerts": [
            {
                "status": alert.status,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": rfc3339(alert.starts_at),
                "endsAt": rfc3339(alert.ends_at) if alert.status == "resolved" and alert.ends_at else ZERO_TIME,
                "generatorURL": alert.generator_url,
                "fingerprint": alert.fingerprint,
            }
            for alert in shown
        ],
    }


class WebhookSink:
    """POSTs the v4 payload to ``url``; options: ``url``, ``max_alerts`` (0: all), ``bearer_token``."""

    resend_interval_s: float | None = None

    def __init__(self, name: str, options: Mapping[str, Any], *, timeout_s: float = 10.0) -> None:
        check_unknown(options, {"url", "max_alerts", "bearer_token"})
        self.name = name
        self.url: str = option(options, "url", str, required=True)
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"`url` must be an http:// or https:// URL, got {self.url!r}")
        self.max_alerts: int = option(options, "max_alerts", int, 0)
        if self.max_alerts < 0:
            raise ValueError(f"`max_alerts` must be >= 0, got {self.max_alerts}")
        token = option(options, "bearer_token", str)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> SendResult:
        """Blocks for at most the timeout; never raises for HTTP or network failures."""
        body = webhook_payload(notification, max_alerts=self.max_alerts)
        return post_json(self.url, body, timeout_s=self._timeout_s, headers=self._headers)
