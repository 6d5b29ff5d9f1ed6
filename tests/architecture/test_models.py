"""Each unmanaged Django model mirrors the SQLAlchemy table (or view) it reads."""

from __future__ import annotations

import pytest
from django.apps import apps
from sqlalchemy import inspect

from ledger.tables import metadata, view_metadata
from ledger.unit_of_work import Ledger

MODELS = [m for m in apps.get_app_config("contracts").get_models() if not m._meta.proxy]


def test_every_contracts_model_is_unmanaged() -> None:
    assert MODELS
    assert all(not m._meta.managed for m in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_model_has_the_columns_of_its_table(model: type, ledger: Ledger) -> None:
    table_name = model._meta.db_table  # type: ignore[attr-defined]
    tables = {**view_metadata.tables, **metadata.tables}
    table = tables[table_name]
    columns = {f.column: f for f in model._meta.concrete_fields}  # type: ignore[attr-defined]
    assert set(columns) == set(table.columns.keys())
    for name, field in columns.items():
        assert field.null == table.columns[name].nullable or field.primary_key, name
    with ledger.engine.connect() as conn:
        actual = {c["name"] for c in inspect(conn).get_columns(table_name)}
    assert actual == set(columns)
