"""Answers that are costly to compute and change slowly, kept a short while for the pages.

The model page's right-sizing reads 14 days of rollups; an on-call engineer reloading the page, or several
of them looking at one incident, would run it again each time for the same answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class TimedCache(Generic[Key, Value]):
    """At most ``max_entries`` answers, each reused for ``ttl_s`` seconds of the caller's clock; thread-safe.

    Two threads missing the same key both compute it (the later one's answer is kept): cheaper than making
    one wait on the other's database reads, and equal answers either way.
    """

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError("`ttl_s` must be >= 0 and `max_entries` >= 1")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, tuple[float, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, now_s: float, compute: Callable[[], Value]) -> Value:
        """The answer for ``key`` computed less than ``ttl_s`` before ``now_s``, else a fresh one."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and 0 <= now_s - entry[0] < self.ttl_s:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute()
        with self._lock:
            self._entries[key] = (now_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value
