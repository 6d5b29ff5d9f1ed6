"""The event store's statements, as each database's driver takes them.

The append path is the ledger's hottest: it speaks SQL to the DBAPI connection under the
caller's SQLAlchemy transaction (no statement compilation or result set-up per call) and
keeps round trips down. On PostgreSQL an append is one statement that takes the lock and
reads the stream versions, then one statement that inserts the events and moves the head;
a multi-event append goes in by COPY.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ledger.events import RecordedEvent
from ledger.sql.driver import driver_connection, pipelined
from ledger.tables import events

ENVELOPE_COLUMNS = (
    events.c.position,
    events.c.stream_id,
    events.c.stream_version,
    events.c.event_id,
    events.c.type,
    events.c.schema_version,
    events.c.payload,
    events.c.metadata,
    events.c.recorded_at,
    events.c.effective_at,
    events.c.prev_hash,
    events.c.hash,
)
"""An envelope's columns, in `RecordedEvent`'s field order."""
INSERT_COLUMNS = (
    "position, event_id, stream_id, stream_version, type, schema_version, payload, metadata,"
    " recorded_at, effective_at, prev_hash, hash"
)
_ENVELOPE_SQL = ", ".join(c.name for c in ENVELOPE_COLUMNS)
MAX_POSITION = 2**62


class EventSQL:
    """What the append and read paths say to the driver, shared by both databases: they
    differ in placeholders, the head read (and its lock), the select list, how versions of
    many streams are read and what a timestamp arrives as."""

    ENVELOPE: str  # the select list of an envelope
    PAGE: str
    RANGE: str
    STREAM: str
    P: str  # the driver's placeholder
    HEAD: str  # reads the head row (and locks it where the database needs that) + {versions}
    INLINE_VERSIONS = 100  # streams whose versions ride along with the head read

    @classmethod
    def lock_head(cls, driver: Any, streams: list[str]) -> tuple[int, str, Any, dict[str, int]]:
        """The head (position, hash, recorded_at as stored) and the versions of `streams`,
        read once the append lock is held."""
        if len(streams) > cls.INLINE_VERSIONS:
            # One column per stream would pass the database's column limit: read them apart.
            position, digest, recorded_at, _ = cls.lock_head(driver, [])
            return position, digest, recorded_at, cls.fresh_versions(driver, streams)
        row = driver.execute(cls.head_sql(len(streams)), streams).fetchone()
        return row[0], row[1], row[2], dict(zip(streams, row[3:], strict=True))

    @classmethod
    @functools.cache
    def head_sql(cls, streams: int) -> str:
        """HEAD with the versions of `streams` streams riding along."""
        versions = "".join(
            ", (SELECT coalesce(max(stream_version), 0) FROM ledger_events"
            f" WHERE stream_id = {cls.P})"
            for _ in range(streams)
        )
        return cls.HEAD.format(versions=versions)

    LOCK: str | None  # takes the append lock without reading (None: the transaction has it)

    @classmethod
    def take_lock(cls, conn: Connection) -> None:
        if cls.LOCK is not None:
            driver_connection(conn).execute(cls.LOCK)

    VERSIONS: str  # per stream of a list passed as one parameter: (stream, its version)

    @staticmethod
    def stream_list(streams: list[str]) -> object:
        """The list of stream ids as the one parameter of VERSIONS."""
        raise NotImplementedError

    @classmethod
    def fresh_versions(cls, driver: Any, streams: list[str]) -> dict[str, int]:
        if not streams:
            return {}
        rows = driver.execute(cls.VERSIONS, (cls.stream_list(streams),)).fetchall()
        return {stream_id: version for stream_id, version in rows}

    integrity_errors: tuple[type[Exception], ...]  # what a taken version or id raises

    @staticmethod
    def timestamp(value: Any) -> datetime:
        raise NotImplementedError

    @staticmethod
    def insert(driver: Any, rows: list[tuple[object, ...]], new_head: tuple[object, ...]) -> None:
        """Insert the events' rows and move the head."""
        raise NotImplementedError

    @classmethod
    def read_page(
        cls, conn: Connection, after: int, limit: int, up_to: int | None
    ) -> list[RecordedEvent]:
        return cls.records(conn, cls.PAGE, (after, MAX_POSITION if up_to is None else up_to, limit))

    @classmethod
    def read_range(cls, conn: Connection, after: int, through: int) -> list[RecordedEvent]:
        return cls.records(conn, cls.RANGE, (after, through))

    @classmethod
    def read_stream(
        cls, conn: Connection, stream_id: str, up_to_version: int | None, from_version: int
    ) -> list[RecordedEvent]:
        up_to = MAX_POSITION if up_to_version is None else up_to_version
        return cls.records(conn, cls.STREAM, (stream_id, from_version, up_to))

    @classmethod
    def stream_tail(
        cls, conn: Connection, stream_id: str, types: Sequence[str], *, locked: bool
    ) -> tuple[int, RecordedEvent | None]:
        p = cls.P
        sql = (
            f"SELECT (SELECT coalesce(max(stream_version), 0) FROM ledger_events"
            f" WHERE stream_id = {p}), {cls.ENVELOPE}"
            " FROM (SELECT 1) AS one LEFT JOIN ledger_events ON ledger_events.position ="
            f" (SELECT position FROM ledger_events WHERE stream_id = {p}"
            f" AND type IN ({', '.join(p for _ in types)})"
            " ORDER BY stream_version DESC LIMIT 1)"
        )
        driver = driver_connection(conn)
        if not locked:
            row = driver.execute(sql, (stream_id, stream_id, *types)).fetchone()
        else:
            with pipelined(conn):
                cls.take_lock(conn)
                cursor = driver.execute(sql, (stream_id, stream_id, *types))
            # Fetched after the block: the block's closing sync brings both answers in one
            # round trip, where a fetch inside it waits for them once more.
            row = cursor.fetchone()
        return int(row[0]), None if row[1] is None else cls.record(row[1:])

    @classmethod
    def record(cls, r: Sequence[Any]) -> RecordedEvent:
        ts = cls.timestamp
        return RecordedEvent(*r[:8], ts(r[8]), ts(r[9]), r[10], r[11])  # type: ignore[call-arg]

    @classmethod
    def records(cls, conn: Connection, sql: str, params: tuple[object, ...]) -> list[RecordedEvent]:
        record = cls.record
        return [record(r) for r in driver_connection(conn).execute(sql, params).fetchall()]


def _reads_sql(envelope: str, p: str) -> tuple[str, str, str]:
    """The page, range and stream statements for a select list and a placeholder style."""
    between = f"SELECT {envelope} FROM ledger_events WHERE position > {p} AND position <= {p}"
    return (
        f"{between} ORDER BY position LIMIT {p}",
        f"{between} ORDER BY position",
        f"SELECT {envelope} FROM ledger_events WHERE stream_id = {p}"
        f" AND stream_version >= {p} AND stream_version <= {p} ORDER BY stream_version",
    )


class SQLiteEventSQL(EventSQL):
    """SQLite: the write lock is already held (BEGIN IMMEDIATE), so every read is fresh."""

    ENVELOPE, P = _ENVELOPE_SQL, "?"
    PAGE, RANGE, STREAM = _reads_sql(ENVELOPE, P)
    HEAD = "SELECT position, hash, recorded_at{versions} FROM ledger_head WHERE id = 1"
    LOCK = None  # BEGIN IMMEDIATE took it

    @staticmethod
    def timestamp(value: Any) -> datetime:
        return datetime.fromisoformat(value)  # stored as RFC 3339 text (ledger.sql.types)

    integrity_errors: tuple[type[Exception], ...] = (IntegrityError, sqlite3.IntegrityError)
    VERSIONS = (
        "SELECT s.value, (SELECT coalesce(max(stream_version), 0) FROM ledger_events e"
        " WHERE e.stream_id = s.value) FROM json_each(?) AS s"
    )

    @staticmethod
    def stream_list(streams: list[str]) -> object:
        return orjson.dumps(streams).decode()  # a JSON array, for json_each

    @staticmethod
    def insert(driver: Any, rows: list[tuple[object, ...]], new_head: tuple[object, ...]) -> None:
        driver.executemany(
            f"INSERT INTO ledger_events ({INSERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows
        )
        driver.execute(
            "UPDATE ledger_head SET position = ?, hash = ?, recorded_at = ? WHERE id = 1", new_head
        )


class PostgresEventSQL(EventSQL):
    """PostgreSQL: two statements, and the unique (stream_id, stream_version) as backstop.

    The versions read by the locking statement may predate a transaction that committed
    while it waited for the lock. That is safe for exact expectations: a stale version is
    never newer than the real one, so "expected ahead of the stream" is still caught, and an
    event that another writer got in first collides on the unique constraint. Streams
    appended with ANY are read again, after the lock, because their versions are used.
    """

    integrity_errors: tuple[type[Exception], ...] = (IntegrityError, psycopg.IntegrityError)
    # The event id as text, as the envelope holds it (psycopg would return a UUID object).
    ENVELOPE, P = _ENVELOPE_SQL.replace("event_id", "event_id::text"), "%s"
    PAGE, RANGE, STREAM = _reads_sql(ENVELOPE, P)
    HEAD = (
        "SELECT h.position, h.hash, h.recorded_at{versions} FROM ledger_head h"
        " WHERE h.id = 1 FOR UPDATE OF h"
    )
    LOCK = "SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE"

    # The rows are envelopes as they are: the session runs in UTC (ledger.sql.engine), where
    # psycopg hands back `timezone.utc` datetimes (tested), the envelope's own form.

    @staticmethod
    def timestamp(value: Any) -> datetime:
        return value  # type: ignore[no-any-return]

    @classmethod
    def record(cls, r: Sequence[Any]) -> RecordedEvent:
        return RecordedEvent._make(r)

    @classmethod
    def records(cls, conn: Connection, sql: str, params: tuple[object, ...]) -> list[RecordedEvent]:
        rows = driver_connection(conn).execute(sql, params).fetchall()
        return list(map(RecordedEvent._make, rows))

    VERSIONS = (
        "SELECT s.id, (SELECT coalesce(max(stream_version), 0) FROM ledger_events e"
        " WHERE e.stream_id = s.id) FROM unnest(%s::text[]) AS s(id)"
    )

    @staticmethod
    def stream_list(streams: list[str]) -> object:
        return streams  # psycopg sends a list as an array

    @staticmethod
    def insert(driver: Any, rows: list[tuple[object, ...]], new_head: tuple[object, ...]) -> None:
        values = "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        if len(rows) > 1:
            # COPY, not executemany: half the time per row at 1,000 rows, and faster from
            # 4 rows on (measured). Its errors are an INSERT's: a taken stream version
            # names the same unique constraint.
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY ledger_events ({INSERT_COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            driver.execute(
                "UPDATE ledger_head SET position = %s, hash = %s, recorded_at = %s WHERE id = 1",
                new_head,
            )
            return
        driver.execute(
            f"WITH inserted AS (INSERT INTO ledger_events ({INSERT_COLUMNS}) VALUES {values}"
            " RETURNING 1) UPDATE ledger_head SET position = %s, hash = %s, recorded_at = %s"
            " WHERE id = 1",
            (*rows[0], *new_head),
        )
