"""The ledger's event store against a peer: the `eventsourcing` library (9.5.6).

Both stores get the same events (a ~300-byte payload: tenant, resource, decimal quantity,
note; plus effective time and actor), each in its own fresh throwaway database, and run
the same workloads, measured as events per second:

  bulk    `--events` events over 100 streams in transactions of `--batch` events.
          Ours: `uow.append(batch, {stream: ANY})`. Peer: `EventStore.put(batch)`, each event
          carrying its next version (the peer has no "any version"; its primary key on
          (originator_id, originator_version) is its concurrency check).
  single  `--single` appends of one event per transaction, each with the stream's exact
          expected version (ours: expected version; peer: the event's originator_version).

The peer is built the way an `eventsourcing` Application builds it: the infrastructure
factory from `PERSISTENCE_MODULE` (eventsourcing.sqlite / eventsourcing.postgres) and its
environment variables, its application recorder (which creates its tables), the JSON
transcoder with the Application's transcodings (UUID, Decimal, datetime) and a mapper.
`EventStore.put` is the peer's path from domain event object to committed row, as
`uow.append` in a `ledger.write()` transaction is ours; aggregates and the Application's
bookkeeping are left out on both sides. Event objects are built outside the timed regions.
On SQLite the peer's connections are set to `synchronous=NORMAL` like ours (its default,
FULL, costs an fsync per commit); `--peer-sqlite-synchronous FULL` measures its default.

Workloads interleave the stores transaction by transaction, so both see the same machine
noise; their times are accumulated separately. The target is ours/peer >= 1.0.

Extending: add a function to WORKLOADS (it gets every store, the arguments and the progress
display, and returns one Stopwatch per store), and give `Store` and both stores the
operations it needs (e.g. `load_stream` for a command cycle, `replay` for a decoded replay).

Usage: python bench/peer.py [--events 100000] [--batch 1000] [--single 5000]
                            [--database-url URL] [--peer-sqlite-synchronous NORMAL|FULL]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib.metadata import version
from importlib.util import find_spec
from typing import Any, Protocol

from common import (
    NOISE_NOTE,
    SINGLE_STREAMS,
    EventSource,
    EventSpec,
    Ratio,
    Stopwatch,
    backend_label,
    console,
    create_ledger_schema,
    database_url_argument,
    make_progress,
    new_event,
    rates_table,
    registry,
    throwaway_database,
)
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    EventStore,
    InfrastructureFactory,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ledger.database import make_engine, normalise_url
from ledger.store import ANY
from ledger.tables import events
from ledger.unit_of_work import Ledger

PEER_VERSION = version("eventsourcing")
TARGET = 1.0
"""Ours should be at least as fast as the peer."""

Write = Callable[[], None]
"""One prepared transaction: calling it does (only) the timed work."""


@dataclass(frozen=True)
class Args:
    events: int
    batch: int
    single: int
    database_url: str | None
    peer_sqlite_synchronous: str


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--batch", type=int, default=1_000, help="events per batch transaction")
    parser.add_argument(
        "--single", type=int, default=5_000, help="appends of one event per transaction"
    )
    database_url_argument(parser)
    parser.add_argument(
        "--peer-sqlite-synchronous",
        choices=("NORMAL", "FULL"),
        default="NORMAL",
        help="PRAGMA synchronous for the peer's SQLite connections (ours uses NORMAL)",
    )
    ns = parser.parse_args()
    if ns.events < 0 or ns.single < 0 or ns.batch < 1:
        parser.error("--events and --single must be >= 0, --batch >= 1")
    return Args(ns.events, ns.batch, ns.single, ns.database_url, ns.peer_sqlite_synchronous)


# -- the stores -----------------------------------------------------------------------------


class Store(Protocol):
    """What a workload may ask of a store. `prepare_*` build the store's own input objects
    (untimed) and return the write to time."""

    name: str

    def prepare_batch(self, specs: Sequence[EventSpec]) -> Write: ...

    def prepare_one(self, spec: EventSpec) -> Write: ...

    def stored_events(self) -> int: ...


class Ours:
    """The ledger: `Ledger.write()` and `uow.append`, schema by alembic."""

    name = "ours"

    def __init__(self, url: str) -> None:
        create_ledger_schema(url)
        self.engine = make_engine(url)
        self.ledger = Ledger(self.engine, registry)

    def prepare_batch(self, specs: Sequence[EventSpec]) -> Write:
        new_events = [new_event(spec) for spec in specs]
        expected = dict.fromkeys((e.stream_id for e in new_events), ANY)

        def write() -> None:
            with self.ledger.write() as uow:
                uow.append(new_events, expected)

        return write

    def prepare_one(self, spec: EventSpec) -> Write:
        new = new_event(spec)
        expected = {spec.stream_name: spec.version - 1}

        def write() -> None:
            with self.ledger.write() as uow:
                uow.append([new], expected)

        return write

    def stored_events(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()

    def close(self) -> None:
        self.engine.dispose()


class PeerBenchEvent(DomainEvent):
    """The peer's form of the benchmark event (a frozen dataclass, as its events are)."""

    tenant: str
    resource: str
    quantity: Decimal
    note: str
    effective_at: datetime
    actor: str
    source: str


_PEER_NAMESPACE = uuid.UUID("5d1c5e1e-0c55-4b1a-9a8e-6b0d2f1e7a01")


def peer_stream_id(spec: EventSpec) -> uuid.UUID:
    """The peer's events need UUID originator ids; one per benchmark stream."""
    return uuid.uuid5(_PEER_NAMESPACE, spec.stream_name)


def peer_environment(url: str) -> dict[str, str]:
    """The environment variables an `eventsourcing` application would be configured with."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": parsed.database or "",
        }
    if find_spec("psycopg_pool") is None:
        raise SystemExit(
            "eventsourcing.postgres needs psycopg_pool, which requirements-bench.txt does not "
            "pull in: pip install 'eventsourcing[postgres]==9.5.6' (or 'psycopg[pool]')"
        )
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parsed.database or "",
        "POSTGRES_HOST": parsed.host or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": parsed.username or "postgres",
        "POSTGRES_PASSWORD": parsed.password or "",
    }


class Peer:
    """`eventsourcing`'s EventStore (mapper + application recorder), set up from env vars."""

    name = f"eventsourcing {PEER_VERSION}"

    def __init__(self, url: str, sqlite_synchronous: str) -> None:
        self.factory = InfrastructureFactory.construct(Environment(env=peer_environment(url)))
        if isinstance(self.factory, SQLiteFactory):
            _set_sqlite_synchronous(self.factory, sqlite_synchronous)
        recorder = self.factory.application_recorder()  # creates its tables
        transcoder = JSONTranscoder()
        # What eventsourcing.Application.register_transcodings registers.
        transcoder.register(UUIDAsHex())
        transcoder.register(DecimalAsStr())
        transcoder.register(DatetimeAsISO())
        mapper: Mapper[uuid.UUID] = self.factory.mapper(transcoder=transcoder)
        self.store: EventStore[uuid.UUID] = self.factory.event_store(
            mapper=mapper, recorder=recorder
        )

    @staticmethod
    def event(spec: EventSpec) -> PeerBenchEvent:
        return PeerBenchEvent(  # type: ignore[call-arg]
            originator_id=peer_stream_id(spec),
            originator_version=spec.version,
            timestamp=PeerBenchEvent.create_timestamp(),
            tenant=spec.tenant,
            resource=spec.resource,
            quantity=spec.quantity,
            note=spec.note,
            effective_at=spec.effective_at,
            actor=spec.actor,
            source="cli",
        )

    def prepare_batch(self, specs: Sequence[EventSpec]) -> Write:
        domain_events = [self.event(spec) for spec in specs]
        return lambda: self._put(domain_events)

    def prepare_one(self, spec: EventSpec) -> Write:
        domain_events = [self.event(spec)]
        return lambda: self._put(domain_events)

    def _put(self, events: Sequence[PeerBenchEvent]) -> None:
        self.store.put(events)

    def stored_events(self) -> int:
        recorder = self.store.recorder
        assert isinstance(recorder, ApplicationRecorder)
        return recorder.max_notification_id() or 0

    def close(self) -> None:
        self.factory.close()  # closes its connection pool


def _set_sqlite_synchronous(factory: SQLiteFactory, mode: str) -> None:
    """Apply `PRAGMA synchronous` to every connection the peer's pool opens."""
    pool = factory.datastore.pool
    create_connection = pool._create_connection

    def create() -> Any:
        connection = create_connection()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute(f"PRAGMA synchronous={mode}")
        return connection

    pool._create_connection = create  # type: ignore[method-assign]


# -- workloads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Sequence[Store], Args, Progress], list[Stopwatch]]
    enabled: Callable[[Args], bool]


def bulk(stores: Sequence[Store], args: Args, progress: Progress) -> list[Stopwatch]:
    watches = [Stopwatch(f"{store.name}: bulk, {args.batch:,}/tx") for store in stores]
    task = progress.add_task("bulk append", total=args.events)
    source = EventSource()
    remaining = args.events
    while remaining:
        size = min(args.batch, remaining)
        specs = source.take(size)
        for store, watch in zip(stores, watches, strict=True):
            write = store.prepare_batch(specs)
            with watch.timing(size):
                write()
        remaining -= size
        progress.advance(task, size)
    return watches


def single(stores: Sequence[Store], args: Args, progress: Progress) -> list[Stopwatch]:
    watches = [Stopwatch(f"{store.name}: 1 event/tx") for store in stores]
    task = progress.add_task("one event per transaction", total=args.single)
    # Streams of its own, so that this workload does not depend on what ran before it.
    source = EventSource(first_stream=SINGLE_STREAMS)
    for _ in range(args.single):
        (spec,) = source.take(1)
        for store, watch in zip(stores, watches, strict=True):
            write = store.prepare_one(spec)
            with watch.timing(1):
                write()
        progress.advance(task)
    return watches


def check_counts(stores: Sequence[Store], expected: int) -> str:
    """Every store must hold every event: a sanity check of the run, not of speed."""
    counts = {store.name: store.stored_events() for store in stores}
    if any(count != expected for count in counts.values()):
        raise SystemExit(f"stored event counts differ from {expected}: {counts}")
    return f"checked: {' and '.join(counts)} hold {expected:,} events each"


WORKLOADS = [
    Workload("bulk append", bulk, lambda args: args.events > 0),
    Workload("1 event/tx", single, lambda args: args.single > 0),
]


# -- running --------------------------------------------------------------------------------


@contextmanager
def stores(args: Args) -> Iterator[tuple[Ours, Peer]]:
    """Both stores, each on a throwaway database of its own, closed and dropped afterwards."""
    pid = os.getpid()
    with ExitStack() as stack:
        ours_url = stack.enter_context(throwaway_database(args.database_url, f"bench_ours_{pid}"))
        peer_url = stack.enter_context(throwaway_database(args.database_url, f"bench_peer_{pid}"))
        ours = Ours(ours_url)
        stack.callback(ours.close)
        peer = Peer(peer_url, args.peer_sqlite_synchronous)
        stack.callback(peer.close)
        yield ours, peer


def comparison_table(results: list[tuple[str, Stopwatch, Stopwatch]], label: str) -> Table:
    table = Table(title=f"Ours vs eventsourcing {PEER_VERSION} - {label}", title_justify="left")
    table.add_column("workload")
    table.add_column("ours ev/s", justify="right")
    table.add_column("peer ev/s", justify="right")
    table.add_column("ours/peer", justify="right")
    table.add_column("target", justify="right")
    table.add_column("verdict")
    for name, ours, peer in results:
        ratio = Ratio(name, ours, peer, TARGET)
        table.add_row(
            name,
            f"{ours.rate:,.0f}",
            f"{peer.rate:,.0f}",
            f"{ratio.value:.2f}",
            f">= {ratio.target:.2f}",
            "[green]meets target[/]" if ratio.value >= ratio.target else "[red]below target[/]",
        )
    return table


def main() -> None:
    args = parse_args()
    label = backend_label(args.database_url)
    if make_url(args.database_url or "sqlite://").get_backend_name() == "sqlite":
        label += f"; peer synchronous={args.peer_sqlite_synchronous}"
    console.print(
        f"[bold]peer benchmark[/] on {label}: ours vs eventsourcing {PEER_VERSION}; "
        f"{args.events:,} events in batches of {args.batch:,}, "
        f"{args.single:,} one-event transactions"
    )
    results: list[tuple[str, Stopwatch, Stopwatch]] = []
    with stores(args) as (ours, peer), make_progress() as progress:
        for workload in WORKLOADS:
            if workload.enabled(args):
                ours_watch, peer_watch = workload.run([ours, peer], args, progress)
                results.append((workload.name, ours_watch, peer_watch))
        checked = check_counts([ours, peer], args.events + args.single)

    watches = [watch for _, ours_watch, peer_watch in results for watch in (ours_watch, peer_watch)]
    console.print(rates_table(f"Append throughput - {label}", watches))
    console.print(comparison_table(results, label))
    console.print(checked)
    console.print(NOISE_NOTE)


if __name__ == "__main__":
    main()
