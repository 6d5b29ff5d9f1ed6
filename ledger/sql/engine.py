"""Engines for the two supported databases, configured the way the ledger relies on.

SQLite: WAL, `synchronous=NORMAL` (durable against process crashes; a power loss may drop
the last commits), foreign keys on, a busy timeout, and write transactions that take the
write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that later writes can fail
with SQLITE_BUSY without waiting, which a ledger must not do.

PostgreSQL (psycopg 3): session `lock_timeout` and `idle_in_transaction_session_timeout`, so
one stuck session cannot freeze every writer, and UTC as the session time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry


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
    # The page size of a SQLite database created by the ledger (an existing one keeps its
    # own). A commit writes a WAL frame per page it touched, checksummed and copied whole,
    # and a one-event append touches seven (the event row, its four indexes, the head):
    # 2 KiB pages made that commit a third cheaper than the default 4 KiB ones
    # (bench/peer.py; reads and bulk appends measured in the README).
    sqlite_page_size: int = 2_048
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
            # Transactions begin as `_begin_read_snapshot` and `begin_write` say.
            "isolation_level": None,
        },
        pool_size=settings.pool_size,
    )

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA page_size={int(settings.sqlite_page_size)}")  # before WAL
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(settings.sqlite_wal_autocheckpoint_pages)}")
        cursor.close()

    # Not a "begin" event listener: any listener on an engine's connection events makes
    # SQLAlchemy dispatch events on every connect, begin and commit of every connection,
    # which cost a tenth of a one-event append (measured: bench/peer.py).
    engine.dialect.do_begin = _begin_read_snapshot  # type: ignore[method-assign]
    return engine


def _begin_read_snapshot(dbapi_connection: Any) -> None:
    """SQLAlchemy's BEGIN on SQLite: a deferred transaction, whose reads share one snapshot
    (pysqlite runs in autocommit, see `isolation_level` above). A writer has begun
    already, with the write lock: see `SQLite.begin_write` in ledger.sql.dialect."""
    driver = dbapi_connection.driver_connection
    if not driver.in_transaction:
        driver.execute("BEGIN")


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
        # A pooled connection the server terminated (a restart, pg_terminate_backend) is
        # replaced at checkout instead of failing the request that draws it.
        pool_pre_ping=True,
    )
