"""Fakes for tests of code that sends alerts: ``InMemorySink`` records notifications instead of sending them."""

from __future__ import annotations

import threading
from collections.abc import Callable

from alerts.sinks.base import Notification, NotifiedAlert, SendResult


class InMemorySink:
    """Keeps every notification it accepts; ``fail_with`` makes it refuse, as a receiver that is down.

    Thread-safe: dispatchers call sinks from worker threads.
    """

    def __init__(self, name: str = "memory", *, resend_interval_s: float | None = None) -> None:
        self.name = name
        self.resend_interval_s = resend_interval_s
        self.fail_with: SendResult | None = None
        self.on_send: Callable[[Notification], None] | None = None
        self._lock = threading.Lock()
        self._notifications: list[Notification] = []
        self.attempts = 0

    def send(self, notification: Notification) -> SendResult:
        """Record the notification, or refuse it while ``fail_with`` is set."""
        with self._lock:
            self.attempts += 1
            if self.fail_with is not None:
                return self.fail_with
            self._notifications.append(notification)
        if self.on_send is not None:
            self.on_send(notification)
        return SendResult(True)

    @property
    def notifications(self) -> list[Notification]:
        """Every accepted notification, oldest first."""
        with self._lock:
            return list(self._notifications)

    @property
    def alerts(self) -> list[NotifiedAlert]:
        """Every alert of every accepted notification, in order."""
        return [alert for notification in self.notifications for alert in notification.alerts]

    def clear(self) -> None:
        """Forget what was received."""
        with self._lock:
            self._notifications.clear()
