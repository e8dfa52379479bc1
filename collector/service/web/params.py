"""Query-string parameters of the list endpoints and pages, read strictly: a bad or unknown one is a BadQuery
that names it, which the handlers answer with 400."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from collector.core.errors import InferwatchError

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
# The ranges the pages offer and the endpoints accept, in seconds: 1 h to 30 d (rollups go back that far).
RANGES: Final = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_RANGE: Final = "1h"
PAGING: Final = ("limit", "offset")


class BadQuery(InferwatchError, ValueError):
    """A query parameter that is unknown or has a value it cannot have; the message names it."""


@dataclass(frozen=True)
class Paging:
    """Which slice of a list: ``limit`` items from ``offset``."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Query:
    """One request's query parameters, each read at most once and checked against what the endpoint knows."""

    def __init__(self, raw: Mapping[str, str], known: Collection[str]) -> None:
        unknown = sorted(set(raw) - set(known))
        if unknown:
            listed = ", ".join(f"`{name}`" for name in sorted(known))
            raise BadQuery(f"unknown query parameter `{unknown[0]}`; this endpoint knows {listed}")
        self._raw = raw

    def text(self, name: str) -> str | None:
        """The value as given, or None when absent or empty."""
        value = self._raw.get(name, "").strip()
        return value or None

    def choice(self, name: str, allowed: Collection[str], default: str | None = None) -> str | None:
        """One of ``allowed``."""
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            raise BadQuery(f"`{name}` must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def choices(self, name: str, allowed: Collection[str]) -> tuple[str, ...]:
        """A comma-separated list, each one of ``allowed``."""
        value = self.text(name)
        if value is None:
            return ()
        picked = tuple(part.strip() for part in value.split(",") if part.strip())
        for part in picked:
            if part not in allowed:
                raise BadQuery(f"`{name}` must list values of {', '.join(allowed)}, got {part!r}")
        return picked

    def boolean(self, name: str) -> bool | None:
        """``true``/``false`` (also ``1``/``0``)."""
        value = self.text(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise BadQuery(f"`{name}` must be true or false, got {value!r}")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number in ``[low, high]``."""
        value = self.text(name)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit()) or len(value) > 12:
            raise BadQuery(f"`{name}` must be a whole number, got {value!r}")
        number = int(value)
        if not low <= number <= high:
            raise BadQuery(f"`{name}` must be between {low} and {high}, got {number}")
        return number

    def moment(self, name: str) -> datetime | None:
        """An ISO 8601 time; one without a zone is taken as UTC."""
        value = self.text(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadQuery(f"`{name}` must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got {value!r}") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

    def range_s(self, name: str = "range") -> tuple[str, int]:
        """A named range (``1h`` ... ``30d``) and its length in seconds."""
        chosen = self.choice(name, tuple(RANGES), DEFAULT_RANGE)
        assert chosen is not None
        return chosen, RANGES[chosen]

    def paging(self) -> Paging:
        """``limit`` (1 to 1000, default 100) and ``offset``."""
        return Paging(
            limit=self.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=self.integer("offset", 0, 0, 10**9),
        )
