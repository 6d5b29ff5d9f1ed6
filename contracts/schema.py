"""Bring the alembic-managed ledger schema to head on a Django database connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from django.conf import settings
from django.db import connections
from sqlalchemy import select

from contracts import runtime
from contracts.database import sqlalchemy_url
from ledger.bootstrap import build_ledger
from ledger.projections.rebuild import rebuild
from ledger.sql.engine import make_engine
from ledger.tables import PROJECTION_FORMAT, projection_state


def alembic_config() -> Config:
    return Config(str(Path(settings.BASE_DIR) / "alembic.ini"))


def upgrade_ledger_schema(alias: str = "default") -> bool:
    """Upgrade to head; returns whether the projections had to be rebuilt because their
    rows were in an older format (`ledger.tables.PROJECTION_FORMAT`). Checked on every
    run, so a rebuild that did not finish is taken up again by the next `migrate`."""
    engine = make_engine(sqlalchemy_url(connections[alias].settings_dict), settings.LEDGER_DATABASE)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        runtime.close_pooled_connections()
        with engine.connect() as conn:
            current = conn.execute(select(projection_state.c.format)).scalar_one()
        if current >= PROJECTION_FORMAT:
            return False
        rebuild(build_ledger(engine))
        return True
    finally:
        engine.dispose()
