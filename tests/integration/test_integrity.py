"""Append-only enforcement by the database, and tamper detection by the hash chain."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sqlalchemy import Connection, insert, text
from sqlalchemy.exc import DBAPIError

from ledger.canonical import chain_hash
from ledger.events import NewEvent
from ledger.store import ANY, EventStore
from ledger.tables import events
from ledger.unit_of_work import Ledger
from tests.support import AccountOpened, Deposited, append_only_disabled, registry

T0 = datetime(2026, 5, 6, tzinfo=UTC)


@pytest.fixture
def five_events(store_ledger: Ledger) -> Ledger:
    with store_ledger.write() as uow:
        uow.append(
            [NewEvent("acct-a", AccountOpened(owner="anthropic"), T0)]
            + [NewEvent("acct-a", Deposited(amount=Decimal(n)), T0) for n in range(1, 5)],
            {"acct-a": ANY},
        )
    return store_ledger


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_events SET payload = '{}' WHERE position = 2",
        "DELETE FROM ledger_events WHERE position = 2",
        "DELETE FROM ledger_events",
    ],
)
def test_database_rejects_update_and_delete_of_events(five_events: Ledger, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), five_events.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert five_events.verify().ok
    assert five_events.verify().checked == 5


@pytest.mark.postgres
def test_postgres_rejects_truncate_of_events(five_events: Ledger) -> None:
    with pytest.raises(DBAPIError, match="append-only"), five_events.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE ledger_events")
    assert five_events.verify().checked == 5


def test_untouched_ledger_verifies(five_events: Ledger) -> None:
    result = five_events.verify()
    assert result.ok
    assert (result.checked, result.head_position, result.first_bad_position) == (5, 5, None)


def test_empty_ledger_verifies(store_ledger: Ledger) -> None:
    assert store_ledger.verify().ok


def tamper(ledger: Ledger, change: Callable[[Connection], None]) -> None:
    with ledger.engine.begin() as conn, append_only_disabled(conn):
        change(conn)


def edit_payload(conn: Connection) -> None:
    conn.exec_driver_sql(
        """UPDATE ledger_events SET payload = '{"amount":"2000"}' WHERE position = 3"""
    )


def edit_and_rehash(conn: Connection) -> None:
    edit_payload(conn)
    [edited] = EventStore(registry).read_page(conn, after=2, limit=1)
    conn.execute(
        text("UPDATE ledger_events SET hash = :h WHERE position = 3"),
        {"h": chain_hash(edited.prev_hash, edited.canonical_bytes())},
    )


def edit_metadata(conn: Connection) -> None:
    conn.exec_driver_sql(
        """UPDATE ledger_events SET metadata = '{"actor":"mallory"}' WHERE position = 4"""
    )


def delete_middle(conn: Connection) -> None:
    conn.exec_driver_sql("DELETE FROM ledger_events WHERE position = 3")


def delete_last(conn: Connection) -> None:
    conn.exec_driver_sql("DELETE FROM ledger_events WHERE position = 5")


def insert_after_head(conn: Connection) -> None:
    # A well-forged event: correctly chained and hashed, only the head row is out of reach.
    [last] = EventStore(registry).read_page(conn, after=4, limit=1)
    forged = last._replace(
        position=6, stream_version=6, event_id=str(uuid.uuid4()), prev_hash=last.hash
    )
    forged = forged._replace(hash=chain_hash(forged.prev_hash, forged.canonical_bytes()))
    conn.execute(insert(events), [forged._asdict()])


def insert_far_past_head(conn: Connection) -> None:
    # Past a gap wider than a reader's batch: a reader that stopped at an empty batch
    # would never see it.
    [last] = EventStore(registry).read_page(conn, after=4, limit=1)
    forged = last._replace(position=5_006, stream_version=6, event_id=str(uuid.uuid4()))
    conn.execute(insert(events), [forged._asdict()])


def swap_rows(conn: Connection) -> None:
    # Move rows 2 and 4 into each other's positions (a reordering of history).
    conn.exec_driver_sql("UPDATE ledger_events SET position = 100 WHERE position = 2")
    conn.exec_driver_sql("UPDATE ledger_events SET position = 2 WHERE position = 4")
    conn.exec_driver_sql("UPDATE ledger_events SET position = 4 WHERE position = 100")


def rewrite_head(conn: Connection) -> None:
    conn.exec_driver_sql(f"UPDATE ledger_head SET hash = '{'f' * 64}'")


@pytest.mark.parametrize(
    ("change", "bad_position"),
    [
        (edit_payload, 3),
        (edit_and_rehash, 4),  # row 3 now hashes fine, but row 4 no longer links to it
        (edit_metadata, 4),
        (delete_middle, 3),
        (delete_last, 5),
        (insert_after_head, 6),
        (insert_far_past_head, 6),
        (swap_rows, 2),
        (rewrite_head, 5),
    ],
)
def test_verification_names_the_first_tampered_position(
    five_events: Ledger, change: Callable[[Connection], None], bad_position: int
) -> None:
    tamper(five_events, change)

    result = five_events.verify()

    assert not result.ok
    assert result.first_bad_position == bad_position


def test_verify_ledger_command_reports_success(
    five_events: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("verify_ledger")
    assert "ledger verified: 5 events, head position 5" in capsys.readouterr().out


def test_verify_ledger_command_exits_1_naming_the_position(five_events: Ledger) -> None:
    tamper(five_events, edit_payload)

    with pytest.raises(CommandError, match="FAILED at position 3") as failure:
        call_command("verify_ledger")
    assert failure.value.returncode == 1
