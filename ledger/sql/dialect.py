"""What differs between SQLite and PostgreSQL, said once.

The ledger chooses its database in the engine factory (`ledger.sql.engine`); everything
else asks `dialect_of(conn)` and never compares dialect names. The statement-level speed
paths (the append's statements, COPY, the SQLite writer pool) live here and in
`ledger.sql.events`, each with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, RootTransaction, String, Table, cast, delete, func
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import type_coerce

from ledger.canonical import format_timestamp
from ledger.sql.driver import driver_connection
from ledger.sql.events import EventSQL, PostgresEventSQL, SQLiteEventSQL
from ledger.sql.types import UtcTimestamp

Rows = Iterable[tuple[Any, ...]]


class Dialect:
    """One database's ways. Stateless: one instance per database, shared."""

    name: ClassVar[str]
    postgres: ClassVar[bool]
    events: ClassVar[type[EventSQL]]
    keeps_writers: ClassVar[bool]
    """Whether write transactions keep their connection between writes (see
    `Ledger._sqlite_write`)."""

    def begin_write(self, conn: Connection) -> RootTransaction:
        """Begin `conn`'s transaction for a writer."""
        return conn.begin()

    def read_snapshot(self, conn: Connection) -> None:
        """Make `conn`'s transaction (begun here if it is not yet) read one snapshot for
        all its statements. To be called before its first statement."""
        raise NotImplementedError

    def untransacted(self, conn: Connection) -> None:
        """Let `conn`'s statements run outside a transaction block where that saves round
        trips (see `Ledger.read`)."""

    def empty(self, conn: Connection, tables: Sequence[Table]) -> None:
        """Delete every row of `tables`."""
        for table in tables:
            conn.execute(delete(table))

    def load(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        """Insert `rows` (tuples of `columns`' values) in bulk, past SQLAlchemy's per-row
        parameter processing, which costs more than the insert."""
        raise NotImplementedError

    def analyze(self, conn: Connection, tables: Sequence[Table]) -> None:
        """Refresh the planner's statistics of `tables` after a bulk load."""

    def uuid_text(self, column: Any) -> ColumnElement[str]:
        """A uuid column as its canonical text."""
        return type_coerce(column, String)

    def timestamp_text(self, column: Any) -> ColumnElement[str]:
        """A `UtcTimestamp` column as the canonical RFC 3339 text the hashes use, made by
        the database."""
        return type_coerce(column, String)


class SQLite(Dialect):
    name = "sqlite"
    postgres = False
    events = SQLiteEventSQL
    # SQLite answers a statement in microseconds, without a round trip: SQLAlchemy's pool
    # checkout and transaction objects were a quarter of a one-event append.
    keeps_writers = True

    def begin_write(self, conn: Connection) -> RootTransaction:
        """With the write lock taken up front (`BEGIN IMMEDIATE`), waiting up to the busy
        timeout for it. A deferred transaction that reads and then writes fails with
        SQLITE_BUSY at once when another writer got there first, which a ledger must not
        do. A refusal arrives as the driver's `sqlite3.OperationalError`."""
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        return conn.begin()

    def read_snapshot(self, conn: Connection) -> None:
        # A deferred SQLite transaction reads one snapshot already (ledger.sql.engine).
        if not conn.in_transaction():
            conn.begin()

    def load(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        # Timestamps are stored as their canonical text (see `UtcTimestamp`).
        stamps = [
            i for i, name in enumerate(columns) if isinstance(table.c[name].type, UtcTimestamp)
        ]
        placeholders = ", ".join("?" * len(columns))
        driver_connection(conn).executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})",
            map(_stamped_as_text(stamps), rows),
        )


class Postgres(Dialect):
    name = "postgresql"
    postgres = True
    events = PostgresEventSQL
    keeps_writers = False

    def read_snapshot(self, conn: Connection) -> None:
        if not conn.in_transaction():
            conn.begin()
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def untransacted(self, conn: Connection) -> None:
        conn.execution_options(isolation_level="AUTOCOMMIT")

    def empty(self, conn: Connection, tables: Sequence[Table]) -> None:
        conn.exec_driver_sql("TRUNCATE " + ", ".join(t.name for t in tables))

    def load(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        # COPY: half the time per row of executemany at 1,000 rows (bench/append.py).
        driver = driver_connection(conn)
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def analyze(self, conn: Connection, tables: Sequence[Table]) -> None:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table.name}")

    def uuid_text(self, column: Any) -> ColumnElement[str]:
        return cast(column, String)

    def timestamp_text(self, column: Any) -> ColumnElement[str]:
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


def _stamped_as_text(stamps: Sequence[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    def text(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i in stamps:
            moment: datetime | None = values[i]
            if moment is not None:
                values[i] = format_timestamp(moment)
        return tuple(values)

    return text


_DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLite(), Postgres())}


def dialect_of(bind: Connection | Engine) -> Dialect:
    """The dialect of the database `bind` talks to."""
    return _DIALECTS[bind.dialect.name]
