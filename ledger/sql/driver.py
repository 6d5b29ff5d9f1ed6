"""Statements spoken straight to the DBAPI driver, inside a SQLAlchemy connection's
transaction.

The write paths run a handful of small statements per command: the append's and the
inline projection's. Through SQLAlchemy each of them cost 20-30 µs of statement and result
set-up, where SQLite itself spends about 2 µs on it; for the projection's seven that was a
quarter of a command. Here they go to the driver as written, at the price of saying
what SQLAlchemy's types did: the driver's placeholder, and timestamps as their column type
`UtcTimestamp` stores them (canonical RFC 3339 text on SQLite, timestamptz on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection

from ledger.canonical import format_timestamp


def driver_connection(conn: Connection) -> Any:
    """The DBAPI connection under `conn`, inside a transaction: `conn`'s, begun here if the
    caller relied on autobegin (as a SQLAlchemy statement would have), or one begun on the
    driver itself (a SQLite ledger's writes: see `Ledger.write`)."""
    raw = conn.connection.driver_connection
    if not conn.in_transaction() and not (
        isinstance(raw, sqlite3.Connection) and raw.in_transaction
    ):
        conn.begin()
    return raw


@contextlib.contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, statements sent inside go out without waiting for each answer
    (psycopg's pipeline mode); a statement whose rows are fetched waits for its own.

    The inline projection reads a little, then writes four or five rows whose statements
    answer nothing: each was a round trip of its own, a fifth of a command's time. Errors
    still surface, at the latest when the block ends, and fail the transaction as before.
    """
    raw = driver_connection(conn)
    if conn.dialect.name != "postgresql" or not psycopg.Pipeline.is_supported():
        yield
        return
    with raw.pipeline():
        yield


def in_style(statement: str, postgres: bool) -> str:
    """`statement`, written with `?` placeholders, in the driver's placeholder style."""
    return statement.replace("?", "%s") if postgres else statement


class Driver:
    """One connection's driver (statements put in its style by `in_style`)."""

    def __init__(self, conn: Connection) -> None:
        self.raw = driver_connection(conn)
        self.postgres = conn.dialect.name == "postgresql"

    def stamp(self, moment: datetime | None) -> Any:
        """A timestamp as its column stores it. Validated like `UtcTimestamp` does: a
        naive or non-UTC moment is refused."""
        if moment is None:
            return None
        text = format_timestamp(moment)
        return moment if self.postgres else text

    def moment(self, stored: Any) -> datetime:
        """A stored timestamp read back: psycopg returns UTC datetimes (the session runs in
        UTC, see ledger.sql.engine); SQLite returns the text."""
        return stored if self.postgres else datetime.fromisoformat(stored)

    def pipelined(self) -> bool:
        """Whether statements are being sent without waiting for their answers."""
        return self.postgres and self.raw.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(statement, params)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.postgres:
            with self.raw.cursor() as cursor:  # psycopg pipelines executemany
                cursor.executemany(statement, rows)
        else:
            self.raw.executemany(statement, rows)
