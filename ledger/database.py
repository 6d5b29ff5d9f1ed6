"""Engines for the two supported databases, configured the way the ledger relies on.

SQLite: WAL, `synchronous=NORMAL` (durable against process crashes; a power loss may drop
the last commits), foreign keys on, a busy timeout, and write transactions that take the
write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that later writes can fail
with SQLITE_BUSY without waiting, which a ledger must not do.

PostgreSQL (psycopg 3): session `lock_timeout` and `idle_in_transaction_session_timeout`, so
one stuck session cannot freeze every writer, and UTC as the session time zone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

WRITE = "ledger_write"
"""Execution option marking a connection whose transaction will append."""


@dataclass(frozen=True)
class DatabaseSettings:
    lock_timeout_ms: int = 5_000
    idle_in_transaction_timeout_ms: int = 60_000
    sqlite_busy_timeout_ms: int = 30_000
    # SQLite checkpoints its WAL (and fsyncs it) each time this many pages have been written
    # since the last one. The default, 1,000, counts pages, and a ledger commit writes many
    # (the events table, its four indexes and the head; the projection tables and theirs):
    # that checkpointed every 60-160 commits. Ten times as many cost up to 40 MB of WAL and
    # made one-event appends about 8% faster (bench/peer.py).
    sqlite_wal_autocheckpoint_pages: int = 10_000
    pool_size: int = 10


def normalise_url(url: str | URL) -> URL:
    """`postgres://` and `postgresql://` URLs use psycopg 3; SQLite uses pysqlite."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}")
    return parsed


def make_engine(url: str | URL, settings: DatabaseSettings | None = None) -> Engine:
    settings = settings or DatabaseSettings()
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, settings)
    return _postgres_engine(parsed, settings)


def _sqlite_engine(url: URL, settings: DatabaseSettings) -> Engine:
    if url.database in (None, "", ":memory:"):
        raise ValueError("the ledger needs a SQLite file, not an in-memory database")
    engine = create_engine(
        url,
        connect_args={
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
            "check_same_thread": False,
            # Let SQLAlchemy's `begin` event below decide how each transaction starts.
            "isolation_level": None,
        },
        pool_size=settings.pool_size,
    )

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(settings.sqlite_wal_autocheckpoint_pages)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE, False)
        # Straight to the driver: this runs once per transaction, on the append's hot path.
        driver = connection.connection.driver_connection
        assert driver is not None
        statement = "BEGIN IMMEDIATE" if writes else "BEGIN"
        try:
            driver.execute(statement)
        except sqlite3.Error as exc:
            # SQLAlchemy does not wrap what a `begin` listener raises: wrap it as its own
            # statements' errors are, for callers that catch SQLAlchemy's.
            raise OperationalError(statement, None, exc) from exc

    return engine


def _postgres_engine(url: URL, settings: DatabaseSettings) -> Engine:
    options = " ".join(
        (
            f"-c lock_timeout={int(settings.lock_timeout_ms)}",
            "-c idle_in_transaction_session_timeout="
            f"{int(settings.idle_in_transaction_timeout_ms)}",
            "-c TimeZone=UTC",
        )
    )
    return create_engine(
        url,
        connect_args={"options": options},
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
    )
