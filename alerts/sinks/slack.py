"""A Slack incoming webhook, with a message a person on call can read at a glance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.sinks import check_unknown, option
from alerts.sinks.base import Notification, NotifiedAlert, SendResult, post_json

# Slack's limit is 50 blocks a message; one header block, one per alert, one for the rest.
MAX_ALERT_BLOCKS = 40


def _escape(text: str) -> str:
    """Slack's mrkdwn needs only these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def title(notification: Notification) -> str:
    """``[FIRING:2] ModelLatencyAnomaly fraud``: status, count, and what the group has in common."""
    firing = sum(1 for alert in notification.alerts if alert.status == "firing")
    count = firing if notification.status == "firing" else len(notification.alerts)
    labels = notification.group_labels or notification.common_labels
    what = " ".join(labels.get(key, "") for key in ("alertname", "model") if labels.get(key))
    return f"[{notification.status.upper()}:{count}] {what or notification.group_key}"


def alert_text(alert: NotifiedAlert) -> str:
    """One alert: its state, summary, value against baseline, and the links."""
    icon = ":red_circle:" if alert.status == "firing" else ":large_green_circle:"
    labels = alert.labels
    head = f"{icon} *{_escape(labels.get('alertname', ''))}* {_escape(labels.get('model', ''))}"
    if labels.get("version"):
        head += f" v{_escape(labels['version'])}"
    head += f" ({_escape(labels.get('severity', ''))}, {alert.status})"
    lines = [head, _escape(alert.annotations.get("summary", ""))]
    value, baseline = alert.annotations.get("value"), alert.annotations.get("baseline")
    if value:
        lines.append(f"value {_escape(value)}" + (f", baseline {_escape(baseline)}" if baseline else ""))
    if alert.annotations.get("window"):
        lines.append(f"window {_escape(alert.annotations['window'])}")
    links = [
        f"<{alert.annotations[key]}|{label}>"
        for key, label in (("evidence_url", "Evidence"), ("runbook_url", "Runbook"))
        if alert.annotations.get(key)
    ]
    if links:
        lines.append(" · ".join(links))
    return "\n".join(line for line in lines if line)


def slack_message(notification: Notification, *, channel: str | None = None) -> dict[str, Any]:
    """An incoming-webhook message: a plain-text fallback and one section per alert."""
    alerts = notification.alerts
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title(notification)[:150]}}
    ]
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": alert_text(alert)[:3000]}}
        for alert in alerts[:MAX_ALERT_BLOCKS]
    ]
    if len(alerts) > MAX_ALERT_BLOCKS:
        more = len(alerts) - MAX_ALERT_BLOCKS
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more"}]})
    message: dict[str, Any] = {"text": title(notification), "blocks": blocks}
    if channel:
        message["channel"] = channel
    return message


class SlackSink:
    """Posts to a Slack incoming webhook; options: ``url`` (the hooks.slack.com URL), ``channel``."""

    resend_interval_s: float | None = None

    def __init__(self, name: str, options: Mapping[str, Any], *, timeout_s: float = 10.0) -> None:
        check_unknown(options, {"url", "channel"})
        self.name = name
        self.url: str = option(options, "url", str, required=True)
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"`url` must be an http:// or https:// URL, got {self.url!r}")
        self.channel: str | None = option(options, "channel", str)
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> SendResult:
        """Blocks for at most the timeout; never raises for HTTP or network failures."""
        return post_json(self.url, slack_message(notification, channel=self.channel), timeout_s=self._timeout_s)
