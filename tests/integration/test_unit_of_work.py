"""One transaction per command: events, projection rows and idempotency records together."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select

from ledger.errors import ConcurrencyError, IdempotencyConflict, LedgerBusy
from ledger.events import NewEvent, RecordedEvent
from ledger.idempotency import IdempotencyRecord, fingerprint
from ledger.sql.engine import DatabaseSettings, make_engine
from ledger.store import NO_STREAM
from ledger.unit_of_work import Folded, Ledger, UnitOfWork
from tests.support import AccountOpened, Deposited

T0 = datetime(2026, 5, 6, tzinfo=UTC)
scratch = MetaData()
seen = Table("test_seen_events", scratch, Column("position", Integer), Column("type", String(50)))


class Recorder:
    """A projection that copies every event's position into a scratch table."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def apply(
        self,
        conn: Connection,
        events: Sequence[RecordedEvent],
        folded: Folded,
        decoded: Sequence[object],
    ) -> None:
        conn.execute(insert(seen), [{"position": e.position, "type": e.type} for e in events])
        if any(e.type == self.fail_on for e in events):
            raise RuntimeError("projection failed")


@pytest.fixture
def projected(store_ledger: Ledger) -> Iterator[Ledger]:
    scratch.create_all(store_ledger.engine)
    try:
        yield Ledger(
            store_ledger.engine, store_ledger.registry, projections=[Recorder("Deposited")]
        )
    finally:
        scratch.drop_all(store_ledger.engine)


def projected_positions(ledger: Ledger) -> list[int]:
    with ledger.read() as conn:
        return list(conn.execute(select(seen.c.position).order_by(seen.c.position)).scalars())


def test_projection_rows_commit_with_their_events(projected: Ledger) -> None:
    with projected.write() as uow:
        uow.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM})
        assert [e.position for e in uow.appended] == [1]

    assert projected_positions(projected) == [1]
    assert projected.head().position == 1


def test_a_failing_projection_leaves_neither_events_nor_rows(projected: Ledger) -> None:
    with pytest.raises(RuntimeError), projected.write() as uow:
        uow.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM})
        uow.append([NewEvent("acct-a", Deposited(amount=Decimal(1)), T0)], {"acct-a": 1})

    assert projected_positions(projected) == []
    assert projected.head().position == 0
    assert projected.verify().ok


def test_dry_run_transaction_rolls_everything_back(projected: Ledger) -> None:
    with projected.write(commit=False) as uow:
        [event] = uow.append(
            [NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM}
        )
        assert event.position == 1

    assert projected.head().position == 0
    assert projected_positions(projected) == []


def test_idempotency_record_commits_with_the_append_and_replays(store_ledger: Ledger) -> None:
    request = {"op": "open", "owner": "a"}
    with store_ledger.write() as uow:
        assert uow.find_idempotent("key-holder", "k1", fingerprint(request)) is None
        [event] = uow.append(
            [NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM}
        )
        uow.remember_idempotent(
            IdempotencyRecord(
                "key-holder", "k1", fingerprint(request), 201, '{"ok":true}', event.position
            )
        )

    with store_ledger.write() as uow:
        record = uow.find_idempotent("key-holder", "k1", fingerprint(request))
        assert record is not None
        assert (record.code, record.response, record.position) == (201, '{"ok":true}', 1)
        assert uow.find_idempotent("someone-else", "k1", fingerprint(request)) is None
        with pytest.raises(IdempotencyConflict):
            uow.find_idempotent("key-holder", "k1", fingerprint({"op": "open", "owner": "b"}))


def test_idempotency_record_rolls_back_with_a_failed_append(store_ledger: Ledger) -> None:
    request = {"op": "open"}
    with pytest.raises(ConcurrencyError), store_ledger.write() as uow:
        uow.remember_idempotent(IdempotencyRecord("s", "k2", fingerprint(request), 201, "{}", None))
        uow.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": 7})

    with store_ledger.write() as uow:
        assert uow.find_idempotent("s", "k2", fingerprint(request)) is None


@pytest.mark.postgres  # SQLite writers are serialised from BEGIN: no race to lose
def test_run_retries_a_command_that_lost_a_version_race(store_ledger: Ledger) -> None:
    with store_ledger.write() as uow:
        uow.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM})
    attempts: list[int] = []

    def deposit_once(uow: UnitOfWork) -> int:
        version = uow.stream_versions(["acct-a"])["acct-a"]
        attempts.append(version)
        if len(attempts) == 1:  # someone else appends between our read and our write
            with store_ledger.write() as other:
                other.append(
                    [NewEvent("acct-a", Deposited(amount=Decimal(5)), T0)], {"acct-a": version}
                )
        [event] = uow.append(
            [NewEvent("acct-a", Deposited(amount=Decimal(1)), T0)], {"acct-a": version}
        )
        return event.stream_version

    assert store_ledger.run(deposit_once) == 3
    assert attempts == [1, 2]


def test_run_gives_up_after_its_attempts(store_ledger: Ledger) -> None:
    calls = 0

    def always_conflicts(uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        raise ConcurrencyError("acct-a", 1, 2)

    with pytest.raises(ConcurrencyError):
        store_ledger.run(always_conflicts, attempts=3)
    assert calls == 3


def test_a_writer_blocked_past_its_lock_timeout_gets_ledger_busy(store_ledger: Ledger) -> None:
    impatient = Ledger(
        make_engine(
            store_ledger.engine.url,
            DatabaseSettings(lock_timeout_ms=100, sqlite_busy_timeout_ms=100),
        ),
        store_ledger.registry,
    )
    try:
        with store_ledger.write() as holder:
            holder.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM})
            with pytest.raises(LedgerBusy), impatient.write() as blocked:
                blocked.append(
                    [NewEvent("acct-b", AccountOpened(owner="b"), T0)], {"acct-b": NO_STREAM}
                )
    finally:
        impatient.engine.dispose()
    assert store_ledger.head().position == 1


def test_a_read_without_transaction_block_leaves_its_pooled_connection_transactional(
    store_ledger: Ledger,
) -> None:
    # One pooled connection, so that each block below is handed the same one.
    engine = make_engine(store_ledger.engine.url, DatabaseSettings(pool_size=1))
    store_ledger = Ledger(engine, store_ledger.registry)
    opened = NewEvent("acct-a", AccountOpened(owner="x"), T0)
    with store_ledger.write() as uow:
        uow.append([opened], {"acct-a": NO_STREAM})
    postgres = engine.dialect.name == "postgresql"

    with store_ledger.read(transaction=False) as conn:
        assert store_ledger.store.head(conn).position == 1
        driver = conn.connection.driver_connection
        # PostgreSQL: the statement ran on its own (no BEGIN, no ROLLBACK: one round trip);
        # SQLite keeps its snapshot transaction, which costs no round trip.
        if postgres:
            assert driver.info.transaction_status == driver.info.transaction_status.IDLE
        else:
            assert driver.in_transaction

    # The same pooled connection, handed to a writer (on PostgreSQL: SQLite's writes keep
    # connections of their own), is transactional again: a failed command leaves nothing
    # behind.
    with pytest.raises(RuntimeError), store_ledger.write() as uow:
        assert (uow.conn.connection.driver_connection is driver) == postgres
        uow.append([NewEvent("acct-b", AccountOpened(owner="y"), T0)], {"acct-b": NO_STREAM})
        raise RuntimeError("the command failed after appending")
    assert store_ledger.head().position == 1
    with store_ledger.read() as conn:
        store_ledger.store.head(conn)
        assert conn.connection.driver_connection is driver
        if postgres:
            assert driver.info.transaction_status == driver.info.transaction_status.INTRANS
    store_ledger.close()
    engine.dispose()


@pytest.mark.sqlite
def test_sqlite_writes_keep_their_connection_and_drop_one_that_failed(
    store_ledger: Ledger,
) -> None:
    engine = make_engine(store_ledger.engine.url)
    ledger = Ledger(engine, store_ledger.registry)
    try:
        with ledger.write() as uow:
            uow.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM})
            first = uow.conn
        with ledger.write() as uow:
            uow.append([NewEvent("acct-b", AccountOpened(owner="b"), T0)], {"acct-b": NO_STREAM})
            assert uow.conn is first
            # The lock was taken up front, on the driver; SQLAlchemy began nothing.
            assert uow.conn.connection.driver_connection.in_transaction
            assert not uow.conn.in_transaction()
        assert engine.pool.checkedout() == 1  # kept, out of the pool, between writes
        assert not first.connection.driver_connection.in_transaction  # committed

        with pytest.raises(ConcurrencyError), ledger.write() as uow:
            assert uow.conn is first
            uow.append([NewEvent("acct-c", AccountOpened(owner="c"), T0)], {"acct-c": 3})
        assert first.closed  # a failed write's connection goes back to the pool
        assert engine.pool.checkedout() == 0

        with ledger.write() as uow:
            uow.append([NewEvent("acct-c", AccountOpened(owner="c"), T0)], {"acct-c": NO_STREAM})
            assert uow.conn is not first
        ledger.close()
        assert engine.pool.checkedout() == 0
        assert ledger.head().position == 3
    finally:
        engine.dispose()


@pytest.mark.sqlite
def test_a_sqlite_write_whose_statements_went_through_sqlalchemy_ends_through_it(
    store_ledger: Ledger,
) -> None:
    request = {"op": "open"}
    with store_ledger.write() as uow:
        uow.remember_idempotent(IdempotencyRecord("s", "k9", fingerprint(request), 201, "{}", 1))
        assert uow.conn.in_transaction()  # autobegun by the idempotency insert
        uow.append([NewEvent("acct-a", AccountOpened(owner="a"), T0)], {"acct-a": NO_STREAM})
        kept = uow.conn
    assert not kept.in_transaction()
    assert not kept.connection.driver_connection.in_transaction

    with pytest.raises(RuntimeError), store_ledger.write() as uow:
        uow.remember_idempotent(IdempotencyRecord("s", "k10", fingerprint(request), 201, "{}", 2))
        uow.append([NewEvent("acct-b", AccountOpened(owner="b"), T0)], {"acct-b": NO_STREAM})
        raise RuntimeError("the command failed after appending")

    assert store_ledger.head().position == 1
    with store_ledger.write() as uow:
        assert uow.find_idempotent("s", "k9", fingerprint(request)) is not None
        assert uow.find_idempotent("s", "k10", fingerprint(request)) is None
