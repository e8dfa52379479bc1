"""What the JSON list endpoints and the pages need from the running service, passed down once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from alerts.config import DEFAULT_INHIBIT_RULES, InhibitRule
from collector.core.pricing import Pricing
from collector.service.web.answer_cache import TimedCache
from collector.service.web.sessions import SessionKeys
from detectors.slo import SLO
from rightsize.settings import RightsizeContext

# How long the model page shows one right-sizing answer before computing it again.
RIGHTSIZING_TTL_S = 60.0


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class WebContext:
    """The database, the settings the pages show numbers by, and the session keys."""

    engine: Engine
    sessions: SessionKeys
    pricing: Pricing = field(default_factory=Pricing)
    slos: tuple[SLO, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES
    # The model page's right-sizing answer; None leaves the section out.
    rightsize: RightsizeContext | None = None
    clock: Callable[[], datetime] = _utcnow
    # Right-sizing answers by (model, version), reused for a minute: each reads 14 days of rollups.
    rightsizing_cache: TimedCache[tuple[str, str | None], object] = field(
        default_factory=lambda: TimedCache(ttl_s=RIGHTSIZING_TTL_S, max_entries=256), compare=False
    )

    def now_unix_s(self) -> int:
        """The clock in whole seconds, for session expiry."""
        return int(self.clock().timestamp())
