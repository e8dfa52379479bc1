"""`inferwatch alerts test RECEIVER`: one test notification through a receiver's real sink, and what came back.

Like Grafana's contact-point test and ``amtool``: the notification goes through the same sink, options and
timeout the dispatcher uses, so a success here means the dispatcher's sends will be taken too. It is a
firing alert named ``InferwatchTestNotification`` with severity ``info``; an Alertmanager forgets it by
itself after four resend intervals, as it forgets any alert nobody renews.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import uuid4

from alerts.outbox import send_one
from alerts.sinks.base import AlertSink, Notification, NotifiedAlert

TEST_ALERTNAME: Final = "InferwatchTestNotification"


@dataclass(frozen=True)
class ProbeResult:
    """How the receiver answered one test notification."""

    receiver: str
    type: str
    ok: bool
    latency_s: float
    detail: str
    status_code: int | None = None
    retryable: bool = False
    # What to check when it failed, in the words of the failure; empty on success.
    hint: str = ""


def build_test_notification(receiver: str, now: datetime, external_url: str = "") -> Notification:
    """A one-alert notification that says it is a test, and from where."""
    labels = {"alertname": TEST_ALERTNAME, "severity": "info", "receiver": receiver}
    alert = NotifiedAlert(
        fingerprint=uuid4().hex[:16],
        status="firing",
        labels=labels,
        annotations={
            "summary": f"Test notification from inferwatch to receiver {receiver!r}: if you read this, it works.",
            "description": "Sent by `inferwatch alerts test`; nothing is wrong with any model.",
        },
        starts_at=now,
        ends_at=None,
        generator_url=external_url,
    )
    return Notification(
        id=str(uuid4()),
        receiver=receiver,
        group_key=f'{{}}:{{alertname="{TEST_ALERTNAME}"}}',
        group_labels={"alertname": TEST_ALERTNAME},
        alerts=(alert,),
        sent_at=now,
        external_url=external_url,
    )


_UNREACHABLE = re.compile(r"cannot reach|timed out|refused|unreachable|name or service not known", re.IGNORECASE)


def hint_for(status_code: int | None, detail: str, timeout_s: float) -> str:
    """What to check, from how the receiver failed."""
    if status_code in {401, 403}:
        return "the receiver refused the credentials: check the receiver's bearer_token or the secret in its URL"
    if status_code == 404:
        return (
            "nothing answers at that path: check the URL (an Alertmanager's base URL, without /api/v2/alerts; "
            "a Slack incoming-webhook URL in full)"
        )
    if status_code in {400, 415, 422}:
        return "the receiver refused the payload: check that it expects this receiver type's format"
    if status_code in {408, 429}:
        return "the receiver is throttling or slow; the dispatcher would retry this with back-off"
    if status_code is not None and status_code >= 500:
        return "the receiver failed while handling it: check the receiver's own logs; the dispatcher would retry"
    if "timed out" in detail.lower():
        return (
            f"no answer within alerts.send_timeout ({timeout_s:g} s): check that the receiver is up and not overloaded"
        )
    if _UNREACHABLE.search(detail):
        return (
            "check the URL's host and port, that the receiver is running, and that this host may reach it "
            "(firewall, proxy, DNS)"
        )
    return "check the receiver's configuration under [alerts.receivers]"


def probe(
    sink: AlertSink, receiver_type: str, now: datetime, *, external_url: str = "", timeout_s: float
) -> ProbeResult:
    """Send one test notification through ``sink`` and time the answer; never raises for the sink's failures."""
    notification = build_test_notification(sink.name, now, external_url)
    started = time.perf_counter()
    result = send_one(sink, notification)
    latency = time.perf_counter() - started
    return ProbeResult(
        receiver=sink.name,
        type=receiver_type,
        ok=result.ok,
        latency_s=latency,
        detail=result.detail,
        status_code=result.status_code,
        retryable=result.retryable if not result.ok else False,
        hint="" if result.ok else hint_for(result.status_code, result.detail, timeout_s),
    )


def probe_to_json(result: ProbeResult) -> dict[str, object]:
    """The stable JSON shape (``--json``)."""
    return {
        "receiver": result.receiver,
        "type": result.type,
        "ok": result.ok,
        "status_code": result.status_code,
        "latency_ms": round(result.latency_s * 1000, 1),
        "detail": result.detail,
        "retryable": result.retryable,
        "hint": result.hint,
    }


def describe_probe(result: ProbeResult) -> str:
    """One line on success; on failure, the error and what to check."""
    took = f"{result.latency_s * 1000:.0f} ms"
    head = f"receiver {result.receiver!r} ({result.type})"
    if result.ok:
        return f"{head}: test notification delivered in {took}: {result.detail}"
    return f"{head}: test notification FAILED after {took}: {result.detail}\nhint: {result.hint}"
