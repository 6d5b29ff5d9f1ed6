"""DATABASE_URL configures Django and SQLAlchemy alike, with the session settings we rely on."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from django.db import connection

from contracts.database import django_database, sqlalchemy_url
from ledger.sql.engine import DatabaseSettings, make_engine, normalise_url
from ledger.unit_of_work import Ledger


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_use_psycopg_3(scheme: str) -> None:
    url = normalise_url(f"{scheme}://u:p@db.example:5433/ledger")
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "db.example",
        5433,
        "ledger",
    )


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgresql+psycopg://u@db.example/ledger", "django.db.backends.postgresql"),
        ("sqlite+pysqlite:////tmp/ledger.sqlite3", "django.db.backends.sqlite3"),
    ],
)
def test_sqlalchemy_driver_suffixes_are_accepted_by_django_too(url: str, engine: str) -> None:
    config = django_database(url, Path("/tmp"), DatabaseSettings())
    assert config["ENGINE"] == engine
    assert config["NAME"] in ("ledger", "/tmp/ledger.sqlite3")


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        normalise_url("mysql://root@localhost/ledger")
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        django_database("mysql://root@localhost/ledger", Path("/tmp"), DatabaseSettings())


def test_django_and_sqlalchemy_share_one_database_url(tmp_path: Path) -> None:
    config = django_database("postgresql://u:secret@db:5433/ledger", tmp_path, DatabaseSettings())
    url = sqlalchemy_url(config)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u",
        "secret",
        "db",
        5433,
        "ledger",
    )
    sqlite = django_database(f"sqlite:///{tmp_path / 'l.sqlite3'}", tmp_path, DatabaseSettings())
    assert sqlalchemy_url(sqlite).database == str(tmp_path / "l.sqlite3")
    assert sqlite["TEST"]["NAME"] != ":memory:"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_sessions_time_out_stuck_locks_and_idle_transactions(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        ours = (
            conn.exec_driver_sql("SHOW lock_timeout").scalar(),
            conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar(),
            conn.exec_driver_sql("SHOW TimeZone").scalar(),
        )
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        djangos_lock = cursor.fetchone()[0]
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        djangos_idle = cursor.fetchone()[0]
    assert ours == ("5s", "1min", "UTC")
    assert (djangos_lock, djangos_idle) == ("5s", "1min")


@pytest.mark.django_db(transaction=True)
def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(ledger: Ledger) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with ledger.engine.connect() as conn:
        pragmas = [
            conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in (
                "journal_mode",
                "foreign_keys",
                "busy_timeout",
                "synchronous",
                "wal_autocheckpoint",
                "page_size",
            )
        ]
    with connection.cursor() as cursor:
        djangos = []
        for p in ("journal_mode", "foreign_keys", "busy_timeout", "page_size"):
            cursor.execute(f"PRAGMA {p}")
            djangos.append(cursor.fetchone()[0])
    # The test database was created by whichever connection came first: both ask for 2 KiB.
    assert pragmas == ["wal", 1, 30000, 1, 10000, 2048]
    assert djangos == ["wal", 1, 30000, 2048]


def test_a_sqlite_database_made_with_other_pages_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as old:
        old.execute("PRAGMA page_size=4096")
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
            conn.exec_driver_sql("INSERT INTO kept VALUES (1)")
            assert conn.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 1
    finally:
        engine.dispose()
