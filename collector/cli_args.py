"""Argument types that every command line of inferwatch shares, the feature packages' commands included."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta


def parse_since(raw: str) -> datetime:
    """``30m``, ``6h``, ``2d`` before now, or an ISO 8601 time (UTC when it names no zone)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if raw[-1:] in units and raw[:-1].isdigit():
        return datetime.now(tz=UTC) - timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time or a duration like 30m, 6h, 2d; got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
