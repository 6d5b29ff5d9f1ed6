"""Append throughput of the ledger's event store against a raw-insert floor.

What is measured, as events per second, in a fresh throwaway database:

  a. ours, batched: `--events` events appended through `Ledger.write()` / `uow.append` in
     transactions of `--batch` events (expected version ANY), spread over 100 streams.
  b. the floor for (a): the *same row dicts* (every column of the `ledger_events` rows that
     (a) wrote, hashes included) inserted with SQLAlchemy Core `conn.execute(insert(t),
     rows)` into a plain copy of `ledger_events` - same columns, primary key, unique and
     check constraints and indexes, no triggers - `--batch` rows per transaction.
  c. ours, one event per transaction: `--single` appends, each in its own `ledger.write()`
     with the stream's exact expected version.
  d. the floor for (c): one plain INSERT of the same row per transaction.

Why: the floor does no encoding, hashing, validation, head locking or version checks, so
a/b and c/d are the share of the database's raw insert speed the store keeps; the targets
are a/b >= 0.70 and c/d >= 0.50. Event objects are built outside the timed regions (they
are the caller's input); the store's work from event object to committed row is timed.

Each store transaction is immediately followed by the floor's transaction for the same
rows, so both sides see the same table sizes and machine noise; their times are accumulated
separately. Each side has a database of its own, with the same settings: SQLite checkpoints
its WAL inside the commit that fills it past `wal_autocheckpoint`, and in one shared file
whichever side happened to cross that line paid for both sides' pages (on a shared file,
a/b swung from 0.72 to 1.07 with the page size alone). The ledger's schema is created by
alembic, as in production.

Usage: python bench/append.py [--events 100000] [--batch 1000] [--single 5000]
                              [--database-url URL] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common import (
    NOISE_NOTE,
    SINGLE_STREAMS,
    EventSource,
    Ratio,
    Stopwatch,
    backend_label,
    console,
    create_ledger_schema,
    database_url_argument,
    make_progress,
    new_event,
    rates_table,
    ratios_table,
    registry,
    throwaway_database,
)
from rich.progress import Progress
from sqlalchemy import (
    CheckConstraint,
    Connection,
    Engine,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)

from ledger.events import RecordedEvent
from ledger.sql.dialect import dialect_of
from ledger.sql.engine import make_engine
from ledger.store import ANY
from ledger.tables import events
from ledger.tables import metadata as ledger_metadata
from ledger.unit_of_work import Ledger

PLAIN_TABLE = "bench_plain_events"


@dataclass(frozen=True)
class Args:
    events: int
    batch: int
    single: int
    database_url: str | None
    profile: bool


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--batch", type=int, default=1_000, help="events per batch transaction")
    parser.add_argument(
        "--single", type=int, default=5_000, help="appends of one event per transaction"
    )
    database_url_argument(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the store's timed blocks and print the hot spots (skews its figures)",
    )
    ns = parser.parse_args()
    if ns.events < 0 or ns.single < 0 or ns.batch < 1:
        parser.error("--events and --single must be >= 0, --batch >= 1")
    return Args(ns.events, ns.batch, ns.single, ns.database_url, ns.profile)


def create_plain_table(engine: Engine) -> Table:
    """A copy of `ledger_events`: same columns, keys, constraints and indexes; no triggers."""
    target = MetaData(naming_convention=ledger_metadata.naming_convention)
    plain = Table(
        PLAIN_TABLE,
        target,
        *(column._copy() for column in events.columns),
        UniqueConstraint("stream_id", "stream_version"),
        UniqueConstraint("event_id"),
        CheckConstraint("position > 0", name="position_positive"),
        CheckConstraint("stream_version > 0", name="stream_version_positive"),
        Index(None, "type", "position"),
        Index(None, "recorded_at"),
    )
    target.create_all(engine)
    return plain


def row_of(record: RecordedEvent) -> dict[str, object]:
    """The `ledger_events` row the store wrote for `record` (as `ledger.store._row` builds)."""
    return {
        "position": record.position,
        "event_id": record.event_id,
        "stream_id": record.stream_id,
        "stream_version": record.stream_version,
        "type": record.type,
        "schema_version": record.schema_version,
        "payload": record.payload,
        "metadata": record.metadata,
        "recorded_at": record.recorded_at,
        "effective_at": record.effective_at,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A transaction started the way the ledger starts its own (BEGIN IMMEDIATE on SQLite)."""
    with engine.connect() as conn, dialect_of(conn).begin_write(conn):
        yield conn


@contextmanager
def profiled(profiler: cProfile.Profile | None) -> Iterator[None]:
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


class Bench:
    def __init__(
        self, args: Args, engine: Engine, floor_engine: Engine, plain: Table, progress: Progress
    ) -> None:
        self.args = args
        self.engine = engine
        self.floor_engine = floor_engine
        self.ledger = Ledger(engine, registry)
        self.insert_plain = insert(plain)
        self.progress = progress
        self.profilers: dict[str, cProfile.Profile] = {}

    def profiler(self, workload: str) -> cProfile.Profile | None:
        if not self.args.profile:
            return None
        return self.profilers.setdefault(workload, cProfile.Profile())

    def batched(self) -> tuple[Stopwatch, Stopwatch]:
        ours = Stopwatch(f"a. ours, {self.args.batch:,}/tx, ANY")
        raw = Stopwatch(f"b. raw executemany, {self.args.batch:,}/tx")
        task = self.progress.add_task("batched: ours + raw", total=self.args.events)
        profiler = self.profiler("batched (a)")
        source = EventSource()
        remaining = self.args.events
        while remaining:
            size = min(self.args.batch, remaining)
            new_events = [new_event(spec) for spec in source.take(size)]
            expected = dict.fromkeys((e.stream_id for e in new_events), ANY)
            with ours.timing(size), profiled(profiler), self.ledger.write() as uow:
                recorded = uow.append(new_events, expected)
            rows = [row_of(record) for record in recorded]
            with raw.timing(size), write_connection(self.floor_engine) as conn:
                conn.execute(self.insert_plain, rows)
            remaining -= size
            self.progress.advance(task, size)
        return ours, raw

    def single(self) -> tuple[Stopwatch, Stopwatch]:
        ours = Stopwatch("c. ours, 1/tx, exact version")
        raw = Stopwatch("d. raw INSERT, 1/tx")
        task = self.progress.add_task("one per transaction: ours + raw", total=self.args.single)
        profiler = self.profiler("one per transaction (c)")
        # Streams of its own, so that this workload does not depend on the batched one.
        source = EventSource(first_stream=SINGLE_STREAMS)
        for _ in range(self.args.single):
            (spec,) = source.take(1)
            new = new_event(spec)
            expected = {spec.stream_name: spec.version - 1}
            with ours.timing(1), profiled(profiler), self.ledger.write() as uow:
                (recorded,) = uow.append([new], expected)
            row = row_of(recorded)
            with raw.timing(1), write_connection(self.floor_engine) as conn:
                conn.execute(self.insert_plain, row)
            self.progress.advance(task)
        return ours, raw

    def check(self, plain: Table) -> str:
        """Both tables must hold every event: a sanity check of the run, not of speed."""
        with self.engine.connect() as conn:
            ours = conn.execute(select(func.count()).select_from(events)).scalar_one()
        with self.floor_engine.connect() as conn:
            raw = conn.execute(select(func.count()).select_from(plain)).scalar_one()
        expected = self.args.events + self.args.single
        if not ours == raw == expected:
            raise SystemExit(f"row counts differ: ledger {ours}, plain {raw}, expected {expected}")
        return f"checked: ledger_events and {PLAIN_TABLE} hold {expected:,} rows each"


def print_profile(workload: str, profiler: cProfile.Profile) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(20)
        console.rule(f"cProfile of ours, {workload}, by {order}")
        # Plain print: pstats lines are wider than the console and must not be wrapped.
        print(out.getvalue().strip("\n"), flush=True)


def main() -> None:
    args = parse_args()
    label = backend_label(args.database_url)
    console.print(
        f"[bold]append benchmark[/] on {label}: {args.events:,} events in batches of "
        f"{args.batch:,}, then {args.single:,} one-event transactions"
    )
    with (
        throwaway_database(args.database_url, f"bench_append_{os.getpid()}") as url,
        throwaway_database(args.database_url, f"bench_append_floor_{os.getpid()}") as floor_url,
    ):
        create_ledger_schema(url)
        engine = make_engine(url)
        floor_engine = make_engine(floor_url)
        try:
            plain = create_plain_table(floor_engine)
            with make_progress() as progress:
                bench = Bench(args, engine, floor_engine, plain, progress)
                a, b = bench.batched()
                c, d = bench.single()
            checked = bench.check(plain)
        finally:
            engine.dispose()
            floor_engine.dispose()

    ratios = []
    if args.events:
        ratios.append(Ratio("a/b  batched: ours / raw executemany", a, b, 0.70))
    if args.single:
        ratios.append(Ratio("c/d  one per tx: ours / raw INSERT", c, d, 0.50))
    console.print(rates_table(f"Append throughput - {label}", [a, b, c, d]))
    console.print(ratios_table("Ours against the raw floor (same run)", ratios))
    console.print(checked)
    if args.profile:
        console.print("[yellow]--profile was on: the store's figures include profiler overhead")
    console.print(NOISE_NOTE)
    for workload, profiler in bench.profilers.items():
        print_profile(workload, profiler)


if __name__ == "__main__":
    main()
