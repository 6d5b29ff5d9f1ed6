"""The unit tier: pure functions and values, no database. `make test-unit` runs it with a
database URL that nothing answers at, and this hook refuses a test that asks for one."""

from __future__ import annotations

from pathlib import Path

import pytest

DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_setup", "ledger", "store_ledger", "demo", "admin"}
)
UNIT_TIER = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT_TIER in Path(item.path).parents:
            wanted = DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
            if wanted:
                raise pytest.UsageError(f"{item.nodeid} is a unit test and asks for {wanted}")
