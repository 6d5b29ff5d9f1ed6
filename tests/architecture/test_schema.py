"""One `migrate` owns both schemas; alembic's migrations match the SQLAlchemy metadata."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from contracts.schema import alembic_config
from ledger.tables import metadata
from ledger.unit_of_work import Ledger


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    return type_ != "table" or name in metadata.tables


def test_migrate_brought_django_and_the_ledger_to_head(ledger: Ledger) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "ledger_alembic_version"})
        assert context.get_current_revision() == head
        tables = set(inspect(conn).get_table_names())
    assert set(metadata.tables) <= tables
    assert {"auth_user", "django_session", "django_migrations"} <= tables


def test_autogenerate_finds_no_difference_after_migrating(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        assert compare_metadata(context, metadata) == []
