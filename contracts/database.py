"""One DATABASE_URL for Django and SQLAlchemy alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from sqlalchemy.engine import URL

from ledger.sql.engine import DatabaseSettings


def django_database(url: str, var_dir: Path, ledger: DatabaseSettings) -> dict[str, Any]:
    """Django's DATABASES["default"] for `url`, tuned like the ledger's own engine.

    SQLAlchemy-style driver suffixes (`postgresql+psycopg://`, `sqlite+pysqlite://`) are
    accepted too: they name the same database, and Django picks its own driver."""
    scheme, sep, rest = url.partition("://")
    config: dict[str, Any] = dict(dj_database_url.parse(scheme.split("+", 1)[0] + sep + rest))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            "init_command": (
                f"PRAGMA page_size={ledger.sqlite_page_size};"
                " PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                f" PRAGMA busy_timeout={ledger.sqlite_busy_timeout_ms};"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": ledger.sqlite_busy_timeout_ms / 1000,
        }
        # The ledger's engine must see the test database, so it cannot live in memory; it
        # sits beside the database it tests, so that runs on two databases never share one.
        name = str(config.get("NAME") or "")
        beside = Path(name) if name and name != ":memory:" else var_dir / "ledger.sqlite3"
        config["TEST"] = {"NAME": str(beside.with_name(f"test-{beside.name}"))}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config["OPTIONS"] = {
            "options": (
                f"-c lock_timeout={ledger.lock_timeout_ms}"
                f" -c idle_in_transaction_session_timeout={ledger.idle_in_transaction_timeout_ms}"
            )
        }
    else:
        raise ValueError(f"DATABASE_URL must be SQLite or PostgreSQL, not {config['ENGINE']}")
    return config


def sqlalchemy_url(settings_dict: dict[str, Any]) -> URL:
    """The SQLAlchemy URL of a Django connection's *current* settings (test db included)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return URL.create("sqlite+pysqlite", database=str(settings_dict["NAME"]))
    return URL.create(
        "postgresql+psycopg",
        username=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        host=settings_dict.get("HOST") or None,
        port=int(settings_dict["PORT"]) if settings_dict.get("PORT") else None,
        database=settings_dict["NAME"],
    )


def stores_timestamps_as_text(connection: Any) -> bool:
    """Whether the ledger's timestamps are RFC 3339 text in this Django connection's
    database (SQLite; `ledger.sql.types.UtcTimestamp`) rather than `timestamptz`."""
    return bool(connection.vendor == "sqlite")
