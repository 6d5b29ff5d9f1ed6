"""Idempotency records are kept at least a day, then purged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sqlalchemy import select

from ledger import idempotency
from ledger.idempotency import IdempotencyRecord
from ledger.tables import idempotency_keys
from ledger.unit_of_work import Ledger

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def remember(ledger: Ledger, key: str, age: timedelta) -> None:
    with ledger.write() as uow:
        idempotency.remember(
            uow.conn, IdempotencyRecord("api", key, "f" * 64, 201, "{}", None), NOW - age
        )


def keys(ledger: Ledger) -> set[str]:
    with ledger.read() as conn:
        return set(conn.scalars(select(idempotency_keys.c.key)))


def test_purge_forgets_only_records_past_the_retention(ledger: Ledger) -> None:
    remember(ledger, "old", timedelta(hours=25))
    remember(ledger, "day", timedelta(hours=23, minutes=59))
    with ledger.write() as uow:
        assert idempotency.purge(uow.conn, NOW) == 1
    assert keys(ledger) == {"day"}


def test_a_retention_under_a_day_is_refused(ledger: Ledger) -> None:
    remember(ledger, "recent", timedelta(hours=2))
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("purge_idempotency_keys", "--keep-hours", "1")
    assert keys(ledger) == {"recent"}
