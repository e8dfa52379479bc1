"""How the writer inserts a batch of records: idempotent, and as few round trips and as little Python as the
database allows.

SQLite: one ``executemany`` of ``INSERT ... ON CONFLICT`` per kind; the library runs it in C.

PostgreSQL: ``executemany`` costs the writer about 15 us of CPU a row (psycopg binds each row's parameters in
Python), which on two cores competes with ingest itself. Spans and predictions therefore go through ``COPY``
into a temporary staging table (about 5 us a row) and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
into the real table, so retries are still stored once. Outcomes keep ``executemany``: their last-write-wins
upsert cannot touch one key twice in a single statement, and a batch may hold two revisions of one outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy.engine import Connection

from collector.core.domain import OutcomeRecord, PredictionRecord, SpanRecord

Kind = Literal["spans", "predictions", "outcomes"]

COLUMNS: dict[Kind, tuple[str, ...]] = {
    "spans": SpanRecord._fields,
    "predictions": PredictionRecord._fields,
    "outcomes": OutcomeRecord._fields,
}
_OUTCOME_UPDATE = ("model_name", "ts_unix_nano", "received_unix_nano", "actual")
_COPY_KINDS: frozenset[Kind] = frozenset(("spans", "predictions"))
# Below this, the staging table's extra statements cost more than binding the rows.
_COPY_MIN_ROWS = 64


def insert_statement(kind: Kind, dialect: str) -> str:
    """The idempotent INSERT for one kind of record, in the driver's parameter style."""
    columns = COLUMNS[kind]
    placeholder = "?" if dialect == "sqlite" else "%s"
    head = f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"
    if kind == "outcomes":
        updates = ", ".join(f"{column} = excluded.{column}" for column in _OUTCOME_UPDATE)
        return f"{head} ON CONFLICT (prediction_id) DO UPDATE SET {updates}"
    return f"{head} ON CONFLICT DO NOTHING"


class RowInserter:
    """Inserts batches of one kind of record on one database dialect."""

    def __init__(self, dialect: str) -> None:
        self._statements = {kind: insert_statement(kind, dialect) for kind in COLUMNS}
        self._copy = dialect == "postgresql"

    def insert(self, connection: Connection, kind: Kind, rows: Sequence[tuple[object, ...]]) -> None:
        """All of ``rows``, inside the caller's transaction; raises what the database raises."""
        if self._copy and kind in _COPY_KINDS and len(rows) >= _COPY_MIN_ROWS:
            _copy_insert(connection, kind, rows)
        else:
            self.insert_each(connection, kind, rows)

    def insert_each(self, connection: Connection, kind: Kind, rows: Sequence[tuple[object, ...]]) -> None:
        """One parameter set per row: what the writer uses to find the row a database refuses."""
        connection.exec_driver_sql(self._statements[kind], rows)


def _copy_insert(connection: Connection, kind: Kind, rows: Sequence[tuple[object, ...]]) -> None:
    columns = ", ".join(COLUMNS[kind])
    staging = f"incoming_{kind}"
    driver = connection.connection.driver_connection
    assert driver is not None  # a connection inside a transaction is checked out
    with driver.cursor() as cursor:
        # Per session; ON COMMIT DELETE ROWS empties it after every batch. No constraints or indexes: the
        # real table's unique key decides what is new.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS "
            f"AS SELECT {columns} FROM {kind} WITH NO DATA"
        )
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {kind} ({columns}) SELECT {columns} FROM {staging} ON CONFLICT DO NOTHING")
