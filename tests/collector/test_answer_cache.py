"""Costly page answers are reused for a while, then computed again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.service.web.answer_cache import TimedCache
from collector.service.web.context import RIGHTSIZING_TTL_S, WebContext
from collector.service.web.pages import rightsizing_of
from collector.service.web.sessions import SessionKeys
from rightsize.settings import RightsizeContext


def test_an_answer_is_reused_until_its_time_is_up() -> None:
    cache: TimedCache[str, int] = TimedCache(ttl_s=60, max_entries=8)
    computed: list[int] = []

    def compute() -> int:
        computed.append(len(computed))
        return len(computed)

    assert cache.get("a", 1000.0, compute) == 1
    assert cache.get("a", 1059.9, compute) == 1
    assert cache.get("a", 1060.0, compute) == 2
    # A clock that went back does not serve an answer from its future.
    assert cache.get("a", 900.0, compute) == 3
    assert len(computed) == 3


def test_the_least_recently_used_answer_goes_first() -> None:
    cache: TimedCache[str, str] = TimedCache(ttl_s=60, max_entries=2)
    cache.get("a", 0.0, lambda: "a1")
    cache.get("b", 0.0, lambda: "b1")
    cache.get("a", 1.0, lambda: "a2")  # a is used again, so b is the oldest
    cache.get("c", 1.0, lambda: "c1")
    assert cache.get("a", 2.0, lambda: "a3") == "a1"
    assert cache.get("b", 2.0, lambda: "b2") == "b2"


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TimedCache(ttl_s=60, max_entries=0)


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def test_the_model_page_right_sizes_a_model_once_a_minute(engine: Engine) -> None:
    """Reloading the model page reads the rollups again only after RIGHTSIZING_TTL_S."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    clock = [now]
    context = WebContext(engine, SessionKeys(None), rightsize=RightsizeContext(), clock=lambda: clock[0])
    first = rightsizing_of(context, "fraud", None)
    read_first = len(statements)
    assert first is not None
    assert read_first > 0
    assert rightsizing_of(context, "fraud", None) == first
    assert len(statements) == read_first
    rightsizing_of(context, "fraud", "v2")  # another version is its own answer
    read_other = len(statements)
    assert read_other > read_first
    clock[0] = now + timedelta(seconds=RIGHTSIZING_TTL_S)
    rightsizing_of(context, "fraud", None)
    assert len(statements) > read_other
