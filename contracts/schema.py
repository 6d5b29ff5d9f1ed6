"""Bring the alembic-managed ledger schema to head on a Django database connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from django.conf import settings
from django.db import connections

from contracts.database import sqlalchemy_url
from ledger.bootstrap import build_ledger
from ledger.database import make_engine
from ledger.projections.rebuild import rebuild
from ledger.tables import PROJECTION_FORMAT_REVISION


def alembic_config() -> Config:
    return Config(str(Path(settings.BASE_DIR) / "alembic.ini"))


def upgrade_ledger_schema(alias: str = "default") -> bool:
    """Upgrade to head; returns whether the projections had to be rebuilt (the upgrade
    crossed `PROJECTION_FORMAT_REVISION` on a database that already had a ledger)."""
    engine = make_engine(sqlalchemy_url(connections[alias].settings_dict), settings.LEDGER_DATABASE)
    try:
        config = alembic_config()
        with engine.begin() as conn:
            before = MigrationContext.configure(
                conn, opts={"version_table": config.get_main_option("version_table")}
            ).get_current_revision()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        if before is None or before >= PROJECTION_FORMAT_REVISION:
            return False
        rebuild(build_ledger(engine))
        return True
    finally:
        engine.dispose()
