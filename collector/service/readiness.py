"""Readiness: can this process do its job right now (database reachable, schema at the head revision)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from collector.core.storage.migrate import current_revision, head_revision


@dataclass(frozen=True)
class Readiness:
    """The verdict and, per check, "ok" or why it failed."""

    ready: bool
    checks: dict[str, str]


def check_readiness(engine: Engine, writer_problem: str | None = None) -> Readiness:
    """Run every readiness check once; never raises for a database problem, it reports it.

    ``writer_problem`` is the batch writer's own verdict (``BatchWriter.problem``): a writer in a crash loop
    stores nothing, however healthy the database looks.
    """
    checks: dict[str, str] = {"writer": writer_problem or "ok"}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as error:
        reason = error.orig if isinstance(error, DBAPIError) else error
        checks["database"] = f"unreachable: {type(reason).__name__}: {str(reason).strip()[:200]}"
        checks["migrations"] = "unknown: database unreachable"
        return Readiness(False, checks)
    try:
        current, head = current_revision(engine), head_revision()
    except SQLAlchemyError as error:
        checks["migrations"] = f"unknown: {type(error).__name__}"
        return Readiness(False, checks)
    checks["migrations"] = "ok" if current == head else f"at {current or 'no revision'}, head is {head}"
    return Readiness(all(verdict == "ok" for verdict in checks.values()), checks)
