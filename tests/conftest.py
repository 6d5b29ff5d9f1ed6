"""Fixtures shared by every test: the ledger on the test database of the configured engine.

The ledger commits on its own SQLAlchemy connections, so pytest-django's transactional
rollback cannot clean up after it: `ledger` empties the ledger's tables before each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from contracts.api import tenants
from contracts.runtime import dispose_all, get_ledger
from ledger.signing import Signer
from ledger.types import utcnow
from ledger.unit_of_work import Ledger
from tests import old_schemas, support

REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
WALL_CLOCK = os.environ.get("LEDGER_TEST_WALL_CLOCK")
"""Runs the suite with the machine's clock moved (time-machine), e.g. to 2031: a test that
reads the wall clock instead of the ledger's fixed one then fails."""
OLD_SCHEMAS = os.environ.get("LEDGER_TEST_OLD_SCHEMAS") == "1"
"""Runs the suite on a ledger whose registrations, allocations and limit changes are all
stored by an older schema (tests/old_schemas.py)."""


def backend() -> str:
    return str(connections["default"].vendor)


def pytest_report_header() -> list[str]:
    lines = [
        f"ledger database: {backend()} (DATABASE_URL={os.environ.get('DATABASE_URL', '<unset: SQLite>')})",
        f"ledger clock: {support.TEST_NOW.isoformat()} (fixed)",
    ]
    if WALL_CLOCK:
        lines.append(f"wall clock moved to {WALL_CLOCK}")
    if OLD_SCHEMAS:
        lines.append(
            f"stored by older schemas: {', '.join(c.__name__ for c in old_schemas.BUMPED)}"
        )
    return lines


def pytest_configure(config: pytest.Config) -> None:
    if OLD_SCHEMAS:
        old_schemas.install()
    if WALL_CLOCK:
        import time_machine

        traveller = time_machine.travel(WALL_CLOCK, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest-django creates the test database only for runs that hold a django_db test; the
    # ledger commits on its own connections, so its tests need the transactional flavour.
    for item in items:
        if "ledger" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "django_db"
        ):
            item.add_marker(pytest.mark.django_db(transaction=True))
    if backend() == "postgresql":
        sqlite_only = pytest.mark.skip(reason="about SQLite only")
        for item in items:
            if item.get_closest_marker("sqlite"):
                item.add_marker(sqlite_only)
        return
    if REQUIRE_POSTGRES:
        raise pytest.UsageError("LEDGER_REQUIRE_POSTGRES=1 but DATABASE_URL is not PostgreSQL")
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgresql://...)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[None]:
    yield
    dispose_all()  # the test database cannot be dropped while the ledger holds connections


@pytest.fixture(scope="session")
def signing_pem() -> str:
    return Signer.generate().private_pem().decode()


@pytest.fixture(autouse=True)
def _signing_key(settings: Any, signing_pem: str) -> None:
    """Every test signs with a throwaway key, never with a key file on this machine."""
    settings.LEDGER_SIGNING_KEY = signing_pem
    settings.LEDGER_API_KEY_CACHE_SECONDS = 0  # a revocation must show at once in tests


@pytest.fixture
def ledger(django_db_setup: None) -> Iterator[Ledger]:
    """The application's ledger (domain registry) on an empty test database."""
    ledger = get_ledger()
    support.reset_ledger(ledger.engine)
    # The API's answers are keyed by position: a history rewound to genesis reuses them.
    tenants.answers.clear()
    # Snapshots of another test's streams would be a state this test never wrote.
    ledger.snapshots.clear()
    ledger.clock = support.SteppingClock()
    yield ledger
    ledger.clock = utcnow


@pytest.fixture
def store_ledger(ledger: Ledger) -> Ledger:
    """A ledger over the same database whose registry holds the store tests' event types."""
    return Ledger(ledger.engine, support.registry)
