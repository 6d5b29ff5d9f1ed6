"""Alembic environment for the ledger's tables (and only those: Django owns its own)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import Connection

from ledger.sql.engine import make_engine
from ledger.tables import metadata

config = context.config
DEFAULT_URL = f"sqlite:///{Path(__file__).resolve().parent.parent / 'var' / 'ledger.sqlite3'}"


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """Autogenerate compares only the ledger's tables, never Django's."""
    if type_ == "table":
        return name in metadata.tables
    return True


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        compare_type=True,
        version_table=config.get_main_option("version_table") or "alembic_version",
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()


main()
