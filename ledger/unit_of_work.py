"""The ledger's composition root and its unit of work.

One write transaction per command: the events, the inline projections' rows and the
idempotency record commit together or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError

from ledger import idempotency
from ledger.chain import Verification, verify_chain
from ledger.errors import ConcurrencyError, DatabaseUnavailable, IdempotencyRace, LedgerBusy
from ledger.events import Event, EventRegistry, NewEvent, RecordedEvent
from ledger.idempotency import IdempotencyRecord
from ledger.snapshots import Snapshots
from ledger.sql.dialect import dialect_of
from ledger.store import EventStore, ExpectedVersion, Head
from ledger.types import utcnow

T = TypeVar("T")
IDLE_WRITERS = 4
"""Connections a SQLite ledger keeps for its writes; more concurrent writers than that
return theirs to the pool."""

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired
QUERY_CANCELED = "57014"  # PostgreSQL: statement_timeout expired (or a cancel request)
# The append path speaks to the driver directly (see ledger.store), so its errors arrive
# unwrapped as well as wrapped by SQLAlchemy.
DRIVER_OPERATIONAL_ERRORS = (OperationalError, sqlite3.OperationalError, psycopg.OperationalError)


Folded = dict[str, tuple[int, object]]
"""States a unit of work's caller folded from streams it read: stream -> (version, state)."""


class Projection(Protocol):
    """A read model folded inline, inside the transaction that appends the events.

    `folded` holds the states the command folded before appending; a projection that needs a
    stream's state before an event may start from them (when the version matches) instead
    of reading the stream again. `decoded` holds each event's model, as the command made it:
    the payload just encoded need not be decoded again.
    """

    def apply(
        self,
        conn: Connection,
        events: Sequence[RecordedEvent],
        folded: Folded,
        decoded: Sequence[Event],
    ) -> None: ...


class UnitOfWork:
    """One write transaction: read streams, append, remember the idempotency key."""

    def __init__(self, conn: Connection, ledger: Ledger) -> None:
        self.conn = conn
        self._ledger = ledger
        self.appended: list[RecordedEvent] = []
        self.folded: Folded = {}

    @property
    def registry(self) -> EventRegistry:
        return self._ledger.registry

    def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        return self._ledger.store.read_stream(self.conn, stream_id, from_version=from_version)

    @property
    def snapshots(self) -> Snapshots:
        return self._ledger.snapshots

    def stream_tail(self, stream_id: str, types: Sequence[str]) -> tuple[int, RecordedEvent | None]:
        return self._ledger.store.stream_tail(self.conn, stream_id, types)

    def remember_folded(self, stream_id: str, version: int, state: object) -> None:
        """Offer the state folded from `stream_id` at `version` to the inline projections."""
        self.folded[stream_id] = (version, state)

    def locked_stream_tail(
        self, stream_id: str, types: Sequence[str]
    ) -> tuple[int, RecordedEvent | None]:
        """`stream_tail`, read once the append lock is held (until this unit of work ends):
        no other append commits meanwhile, so what it reads is what this one's events will
        follow, whether or not they go to that stream."""
        return self._ledger.store.stream_tail(self.conn, stream_id, types, locked=True)

    def stream_versions(self, stream_ids: Sequence[str]) -> dict[str, int]:
        return self._ledger.store.stream_versions(self.conn, stream_ids)

    def append(
        self, new_events: Sequence[NewEvent], expected: Mapping[str, ExpectedVersion]
    ) -> list[RecordedEvent]:
        recorded = self._ledger.store.append(self.conn, new_events, expected)
        if self._ledger.projections:
            decoded = [new.event for new in new_events]
            for projection in self._ledger.projections:
                projection.apply(self.conn, recorded, self.folded, decoded)
        self.appended.extend(recorded)
        return recorded

    def find_idempotent(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        return idempotency.find(self.conn, scope, key, fingerprint)

    def remember_idempotent(self, record: IdempotencyRecord) -> None:
        idempotency.remember(self.conn, record, self._ledger.clock())


class Ledger:
    """Owns the engine, the event registry and the inline projections.

    Built once by the host application (lazily: never at import time).
    """

    def __init__(
        self,
        engine: Engine,
        registry: EventRegistry,
        projections: Sequence[Projection] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.projections = list(projections)
        self.store = EventStore(registry, clock)
        self.snapshots = Snapshots()
        self.dialect = dialect_of(engine)
        # SQLite's writes keep their connections between transactions: see _sqlite_write.
        self._idle_writers: list[Connection] | None = [] if self.dialect.keeps_writers else None

    @property
    def clock(self) -> Callable[[], datetime]:
        """Where the ledger reads "now": recording times, defaults of effective_at, what a
        backdated change is. Replaceable, so that a host (or a test) can pin it."""
        return self.store.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.store.clock = clock

    @contextmanager
    def write(self, *, commit: bool = True) -> Iterator[UnitOfWork]:
        """A write transaction; commits on success (unless `commit=False`), else rolls back."""
        try:
            if self._idle_writers is None:
                with self.engine.connect() as conn:
                    yield from self._transaction(conn, self.dialect.begin_write(conn), commit)
            else:
                yield from self._sqlite_write(self._idle_writers, commit)
        except DRIVER_OPERATIONAL_ERRORS as exc:
            failure = database_failure(exc, "could not take its write lock in time")
            if failure is None:
                raise
            raise failure from exc

    def _transaction(
        self, conn: Connection, transaction: RootTransaction, commit: bool
    ) -> Iterator[UnitOfWork]:
        try:
            yield UnitOfWork(conn, self)
        except BaseException:
            transaction.rollback()
            raise
        if commit:
            transaction.commit()
        else:
            transaction.rollback()

    def _sqlite_write(self, idle: list[Connection], commit: bool) -> Iterator[UnitOfWork]:
        """A write transaction on SQLite, begun and ended on the driver, on a connection
        kept from one write to the next.

        SQLite answers a statement in microseconds and without a round trip, so there
        SQLAlchemy's share of a write, checking a connection out of the pool and in again
        and its transaction object's begin and commit, was a quarter of a one-event append
        (about 30 µs, bench/peer.py). A statement that does go through SQLAlchemy inside
        still may: its autobegin finds the driver's transaction open (see
        `ledger.sql.engine`), and the transaction then ends through SQLAlchemy.
        """
        try:
            conn = idle.pop()
        except IndexError:
            conn = self.engine.connect()
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.execute("BEGIN IMMEDIATE")  # the write lock, up front: see SQLite.begin_write
            try:
                yield UnitOfWork(conn, self)
            except BaseException:
                _end(conn, driver, commit=False)
                raise
            _end(conn, driver, commit)
        except BaseException:
            conn.close()  # back to the pool, which rolls back whatever is left open
            raise
        if len(idle) < IDLE_WRITERS:
            idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        """Return the connections kept for writes to the engine's pool (before disposing of
        the engine, or after a schema change)."""
        idle = self._idle_writers or []
        while idle:
            idle.pop().close()

    @contextmanager
    def read(self, *, transaction: bool = True, snapshot: bool = False) -> Iterator[Connection]:
        """A read-only connection; its transaction is rolled back at the end.

        `snapshot=True`: every statement reads the same snapshot (REPEATABLE READ on
        PostgreSQL; a SQLite transaction is one snapshot anyway), for reads that must
        agree across statements: a verification, an export and its manifest, a rebuild's
        comparison.

        `transaction=False` is for reads whose statements are each consistent on their own:
        one statement, or statements pinned to a position read first (a projection's rows
        as known at a position never change). On PostgreSQL their statements then run
        without a transaction block, which only drops what READ COMMITTED gave them anyway
        (each statement of a transaction sees its own snapshot there), and a one-statement
        read is one round trip instead of three (BEGIN, the statement, ROLLBACK): that was
        half the time of a cached API read. Not for `SET TRANSACTION`, nor for
        server-side cursors (`yield_per`), which need a transaction. SQLite reads are in a
        transaction either way: there, it is what keeps one snapshot across statements,
        and costs no round trip.
        """
        try:
            with self.engine.connect() as conn:
                if snapshot:
                    self.dialect.read_snapshot(conn)
                elif not transaction:
                    self.dialect.untransacted(conn)
                yield conn
        except DRIVER_OPERATIONAL_ERRORS as exc:
            failure = database_failure(exc, "a read waited too long for a lock")
            if failure is None:
                raise
            raise failure from exc

    def run(self, work: Callable[[UnitOfWork], T], *, attempts: int = 5, commit: bool = True) -> T:
        """Run `work` in a write transaction, retrying it on a version conflict.

        Only for callers that did not pin a version: `work` must reload what it decides on.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.write(commit=commit) as uow:
                    return work(uow)
            except (ConcurrencyError, IdempotencyRace):
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def head(self) -> Head:
        with self.read() as conn:
            return self.store.head(conn)

    def verify(self, on_progress: Callable[[int], None] | None = None) -> Verification:
        """Recompute the whole chain, in one consistent read."""
        with self.read(snapshot=True) as conn:
            head = self.store.head(conn)
            # No upper bound: rows smuggled in past the head must be seen, and reported.
            return verify_chain(self.store.read_all(conn), head, on_progress)


def _end(conn: Connection, driver: Any, commit: bool) -> None:
    """End a transaction begun on the driver: through SQLAlchemy if a statement that went
    through it autobegan its transaction object, else on the driver."""
    if conn.in_transaction():
        if commit:
            conn.commit()
        else:
            conn.rollback()
    elif commit:
        driver.commit()
    else:
        driver.rollback()


def database_failure(exc: Exception, busy: str) -> LedgerBusy | DatabaseUnavailable | None:
    """What an operational error of the database means to a caller: a lock or statement
    timeout is a busy ledger (`busy` says which); a connection that failed or was lost,
    an unavailable database. None for anything else (a defect, to surface as it is)."""
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in (LOCK_NOT_AVAILABLE, QUERY_CANCELED) or "database is locked" in str(orig):
        return LedgerBusy(f"the ledger is busy: {busy}")
    lost = getattr(exc, "connection_invalidated", False) or isinstance(
        orig, psycopg.OperationalError
    )
    if lost:
        return DatabaseUnavailable("the ledger's database connection failed; nothing was committed")
    return None
