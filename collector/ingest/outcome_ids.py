"""Whether an outcome's prediction id is known when the outcome is accepted, for the warning in the answer.

Known means: a prediction with that id came in the same request, was accepted recently by this replica (it
may still be in the spool, waiting for the writer), or is stored in the predictions table. The first two are
answered from memory; what is left costs one query per request (an ``IN`` list, ``= ANY(array)`` on
PostgreSQL), run on a thread of its own so the event loop never waits on the database. The outcome is
spooled before any of this: the check only decides what the answer says, so a database that is down or slow
leaves ids unchecked (said in the answer and counted), never an outcome refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from collector.core.storage.failures import describe_error
from collector.core.storage.tables import PredictionRow

logger = logging.getLogger(__name__)

# Ids per IN (...) list on SQLite: well under its bound-parameter limit, and one query for a request of 1,000.
ID_QUERY_CHUNK = 1000
_TABLE = PredictionRow.__tablename__
_POSTGRES_LOOKUP = f"SELECT prediction_id FROM {_TABLE} WHERE prediction_id = ANY(%s)"
_SQLITE_LOOKUP = f"SELECT prediction_id FROM {_TABLE} WHERE prediction_id IN"
# A check slower than this answers "not checked" rather than hold the answer to an accepted request.
CHECK_TIMEOUT_S = 2.0
# After a failed or slow check, the database is not asked again for this long: during an outage every
# request would otherwise wait for its own connection error (and, on a black-holed host, its own timeout).
RECHECK_AFTER_S = 5.0
_SHOWN_ID_CHARS = 64


def stored_prediction_ids(connection: Connection, ids: Collection[str]) -> set[str]:
    """The ones of ``ids`` that are in the predictions table (unique and indexed on prediction_id).

    On the driver's own cursor, not an expanding ``in_()``: SQLAlchemy binds each id and wraps each row in
    Python, which cost 2.3 us of CPU per id found on SQLite and 4.4 on PostgreSQL, where this costs 1.6 and 2.1
    (500 ids a query; every LogOutcomes request runs one). PostgreSQL takes the ids as one array parameter.
    """
    unique = list(set(ids))
    if connection.dialect.name == "postgresql":
        return _fetch_ids(connection, _POSTGRES_LOOKUP, (unique,))
    found: set[str] = set()
    for start in range(0, len(unique), ID_QUERY_CHUNK):
        chunk = tuple(unique[start : start + ID_QUERY_CHUNK])
        found |= _fetch_ids(connection, f"{_SQLITE_LOOKUP} ({', '.join('?' * len(chunk))})", chunk)
    return found


def _fetch_ids(connection: Connection, sql: str, parameters: tuple[object, ...]) -> set[str]:
    driver = connection.connection.driver_connection
    assert driver is not None  # a connection in use is checked out
    cursor = driver.cursor()
    try:
        cursor.execute(sql, parameters)
        return {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()


class RecentPredictionIds:
    """The last ``capacity`` distinct prediction ids accepted, so that an outcome sent right after its
    prediction, before the writer stores it, is not warned about. Memory is bounded: the oldest id goes
    when a new one comes. Used from the event loop only."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"`capacity` must be > 0, got {capacity}")
        self._capacity = capacity
        self._ids: set[str] = set()
        # Each id once, oldest first: a retried prediction keeps its first place.
        self._order: deque[str] = deque()

    def add(self, ids: Iterable[str]) -> None:
        """Remember these ids, forgetting the oldest past the capacity."""
        known, order = self._ids, self._order
        for identifier in ids:
            if identifier not in known:
                known.add(identifier)
                order.append(identifier)
        while len(order) > self._capacity:
            known.discard(order.popleft())

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._ids

    def __len__(self) -> int:
        return len(self._order)


@dataclass(frozen=True)
class IdCheck:
    """What the check found for a request's outcomes, by their index in the request."""

    # Outcomes whose prediction id is known nowhere: not in the request, not recent, not stored.
    unknown: tuple[int, ...] = ()
    # Outcomes whose id is not known from memory and the database could not be asked about; why.
    unchecked: tuple[int, ...] = ()
    reason: str = ""


def unknown_message(prediction_id: str) -> str:
    """The warning for an outcome whose prediction id is known nowhere: what happens to it, exactly."""
    return (
        f"no prediction {prediction_id[:_SHOWN_ID_CHARS]!r} is stored or was received recently; the outcome is "
        "stored, and joined with that prediction by id if it arrives later"
    )


def unchecked_message(reason: str) -> str:
    """The warning for an outcome whose prediction id could not be looked up."""
    return f"not checked against stored predictions ({reason}); the outcome is stored"


class PredictionIdCheck:
    """Decides, for the outcomes of one request, which prediction ids are known. ``close`` stops its thread."""

    def __init__(self, engine: Engine, recent_capacity: int) -> None:
        self._engine = engine
        self.recent = RecentPredictionIds(recent_capacity)
        # One thread: queries queue behind each other instead of taking the shared default executor's
        # threads, which readiness and the JSON API need, when the database hangs.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inferwatch-outcome-ids")
        self._quiet_until = 0.0
        # What answers say while the database is not asked; empty once it answers again.
        self._unavailable = ""

    def remember(self, ids: Iterable[str]) -> None:
        """Prediction ids just accepted (spooled)."""
        self.recent.add(ids)

    async def check(self, outcomes: Sequence[tuple[int, str]], same_request: Collection[str] = ()) -> IdCheck:
        """``outcomes``: (index in the request, prediction id) of each accepted outcome."""
        recent = self.recent
        pending = [(index, pid) for index, pid in outcomes if pid not in same_request and pid not in recent]
        if not pending:
            return IdCheck()
        indexes = tuple(index for index, _ in pending)
        if time.monotonic() < self._quiet_until:
            return IdCheck(unchecked=indexes, reason=self._unavailable)
        loop = asyncio.get_running_loop()
        ids = {pid for _, pid in pending}
        try:
            found = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._stored, ids), timeout=CHECK_TIMEOUT_S
            )
        except TimeoutError:
            slow = f"the database did not answer within {CHECK_TIMEOUT_S:g} s"
            return self._failed(indexes, slow, slow)
        except Exception as error:  # any failure to ask must not fail a request whose outcomes are spooled
            return self._failed(indexes, "the database is unavailable", describe_error(error))
        if self._unavailable:
            logger.info("outcome prediction ids are checked against the database again")
            self._unavailable = ""
        return IdCheck(unknown=tuple(index for index, pid in pending if pid not in found))

    def close(self) -> None:
        """Stop the query thread, without waiting for a query stuck on a database that does not answer."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _stored(self, ids: Collection[str]) -> set[str]:
        with self._engine.connect() as connection:
            return stored_prediction_ids(connection, ids)

    def _failed(self, indexes: tuple[int, ...], reason: str, detail: str) -> IdCheck:
        # The driver's message names hosts and databases: it goes to the log, not to ingest clients.
        if not self._unavailable:
            logger.warning(
                "cannot check outcome prediction ids (%s); answers say so for the next %g s, outcomes are stored",
                detail,
                RECHECK_AFTER_S,
            )
        self._quiet_until = time.monotonic() + RECHECK_AFTER_S
        self._unavailable = reason
        return IdCheck(unchecked=indexes, reason=reason)
