"""Bring the alembic-managed ledger schema to head on a Django database connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from django.conf import settings
from django.db import connections

from contracts.database import sqlalchemy_url
from ledger.database import make_engine


def alembic_config() -> Config:
    return Config(str(Path(settings.BASE_DIR) / "alembic.ini"))


def upgrade_ledger_schema(alias: str = "default") -> None:
    engine = make_engine(sqlalchemy_url(connections[alias].settings_dict), settings.LEDGER_DATABASE)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()
