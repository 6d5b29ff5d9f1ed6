"""Test helpers: resetting the ledger between tests, and bypassing append-only for tampering."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, event, text

from ledger.canonical import GENESIS_HASH
from ledger.events import Event, EventRegistry
from ledger.sql.dialect import dialect_of
from ledger.tables import PROJECTION_FORMAT, head, metadata, projection_state
from ledger.types import Quantity, UtcDatetime

TEST_NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
"""What "now" is in every test that uses the application's ledger: a fixed instant, so
that no test depends on the date it runs on (the lease of the demo ends in May 2028)."""


class SteppingClock:
    """A clock that starts at `start` and moves one millisecond each time it is read:
    repeatable, and still strictly increasing as recording times are in real life."""

    def __init__(self, start: datetime = TEST_NOW, step: timedelta = timedelta(milliseconds=1)):
        self._now = start
        self._step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += self._step
            return self._now


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement `engine` runs inside the block, in order."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def append_only_disabled(conn: Connection) -> Iterator[None]:
    """Lift the append-only triggers inside `conn`'s transaction (to simulate tampering)."""
    if dialect_of(conn).postgres:
        conn.exec_driver_sql("ALTER TABLE ledger_events DISABLE TRIGGER USER")
        yield
        conn.exec_driver_sql("ALTER TABLE ledger_events ENABLE TRIGGER USER")
        return
    triggers = conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_events'"
        )
    ).all()
    for name, _ in triggers:
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    yield
    for _, sql in triggers:
        conn.exec_driver_sql(sql)


def reset_ledger(engine: Engine) -> None:
    """Empty every ledger table and rewind the head to genesis."""
    with engine.connect() as conn, dialect_of(conn).begin_write(conn):
        with append_only_disabled(conn):
            for table in reversed(metadata.sorted_tables):
                if table not in (head, projection_state):
                    conn.execute(table.delete())
        conn.execute(head.update().values(position=0, hash=GENESIS_HASH, recorded_at=None))
        conn.execute(
            projection_state.update().values(
                active="a", rebuilt_at=None, rebuilt_through=None, format=PROJECTION_FORMAT
            )
        )


# -- event types used by the store's own tests --------------------------------------------

registry = EventRegistry()


@registry.register
class AccountOpened(Event):
    event_type = "AccountOpened"
    owner: str


@registry.register
class Deposited(Event):
    event_type = "Deposited"
    amount: Quantity
    note: str = ""


@registry.register
class RateSet(Event):
    """Schema v3: v1 had `percent` (an int), v2 renamed it `rate`, v3 made it a Quantity
    and added `since`."""

    event_type = "RateSet"
    schema_version = 3
    rate: Quantity
    since: UtcDatetime | None = None


@registry.upcaster("RateSet", from_version=1)
def _rate_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {"rate": data["percent"]}


@registry.upcaster("RateSet", from_version=2)
def _rate_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {"rate": str(Decimal(data["rate"]) / 100), "since": None}
