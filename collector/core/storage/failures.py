"""Telling a database outage from a row the database refuses, for every code path that retries writes."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# PostgreSQL SQLSTATE classes that mean "try again later": connection trouble (08), rollback for
# serialization or deadlock (40), insufficient resources (53), a lock not available (55), operator
# intervention such as a shutdown (57), system errors (58).
_TRANSIENT_SQLSTATE_CLASSES = frozenset(("08", "40", "53", "55", "57", "58"))


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is an outage or contention (retry the same rows later), not a row the database refuses.

    PostgreSQL says which with its SQLSTATE; SQLite's OperationalError (locked, busy, disk I/O) and a
    connection lost without a SQLSTATE are outages. Anything raised outside the driver (SQLite's
    OverflowError on a 65-bit integer) is about the data.
    """
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return type(error.orig).__name__ == "OperationalError"


def describe_error(error: BaseException) -> str:
    """``Type: message`` of the driver's own exception where there is one, on one line."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return " ".join(f"{type(cause).__name__}: {cause}".split())
