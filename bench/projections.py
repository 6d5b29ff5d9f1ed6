"""Projection rebuild throughput and entitlement query latency over a large ledger.

What is measured, in a fresh throwaway database:

  1. load     `--events` events of a seeded, valid history (bench/history.py: many tenants
              and contracts - parties, facilities, contracts drafted and signed with their
              facility reservations, allocations, resizes, releases, amendments, limit
              changes, terminations; plus `tenant-small` with 9 events of history and
              `tenant-large` with ~10,000), appended in transactions of `--batch` events
              through a Ledger *without* projections. Reported for information only.
  2. rebuild  `ledger.projections.rebuild.rebuild()` with the projected ledger
              (`build_ledger`): every event replayed into the inactive projection set,
              which is then made active. Reported as events/s ...
  3. raw read ... next to the floor: `SELECT * FROM ledger_events ORDER BY position`,
              every column, streamed in pages of 5,000 (`yield_per`: a server-side cursor
              on PostgreSQL), rows only counted. Timed once before and once after the
              rebuild; the ratio uses their mean (for information). On SQLite
              the write-ahead log's peak size during the rebuild is reported. The database
              is settled after the rebuild, before the second raw read (`common.settle`:
              a WAL checkpoint on SQLite; VACUUM (ANALYZE) and CHECKPOINT on PostgreSQL).
  3b. floors  two parts of the work any rebuild of these tables must do, each timed
              alone: reading the events through the store and decoding every payload into
              its event model (nothing folded, nothing written); and loading the rows this
              rebuild produced into the inactive set in bulk, with its indexes (the rows are
              replayed into memory first, untimed). Their sum is the time of a rebuild whose
              fold cost nothing. Target: rebuild / floor >= 0.50, and 1,000,000 events
              (extrapolated from this run's rate) rebuilt in under 120 s.
  4. queries  `entitlements()` for tenant-small and tenant-large, `--iterations` times each
              after `--warmup` calls, each call in its own `ledger.read(transaction=False)`
              (a connection checkout and the read mode of an API request): as_of = now,
              known_at = head; and as_of = past,
              known_at = old, where old is the position a third into that tenant's history
              and past the business date it had reached then. Median and p99 latency, and
              large/small per variant (target <= 1.5: history length should not matter).
              The generator's state is dropped (and collected) before the queries, so the
              cyclic GC does not pause them to scan it.

`--check` also verifies the generated history against the domain rules (every contract's
allocations within its contracted capacity, every facility's reservations within its
capacity, at every instant) and the rebuilt tables against a fresh replay (`check()`).
`--profile` reruns the rebuild and the tenant-large queries under cProfile afterwards (the
measured figures are taken without it) and prints where the time goes.

Usage: python bench/projections.py [--events 1000000] [--seed 42] [--database-url URL]
                                   [--batch 5000] [--iterations 2000] [--warmup 200]
                                   [--check] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common import (
    NOISE_NOTE,
    backend_label,
    console,
    create_ledger_schema,
    database_url_argument,
    make_progress,
    settle,
    throwaway_database,
)
from history import LARGE, MAX_STREAMS, SMALL, Generator, by_streams
from rich.table import Table
from sqlalchemy import Engine, func, select

from ledger.bootstrap import build_ledger
from ledger.domain import registry
from ledger.domain.aggregates import Aggregate, evolve
from ledger.domain.contract import Contract
from ledger.domain.facility import Facility
from ledger.domain.rules import check_allocations, check_facility
from ledger.projections import bulk
from ledger.projections.rebuild import FLUSH_ROWS, Replay, check, rebuild
from ledger.read import entitlements
from ledger.sql.engine import make_engine
from ledger.store import ANY
from ledger.tables import projection_sets, projection_state
from ledger.types import utcnow
from ledger.unit_of_work import Ledger

REBUILD_TARGET = 0.50
"""rebuild / floor: the rebuild's rate over that of a rebuild whose fold cost nothing."""
MILLION_TARGET_SECONDS = 120.0
"""1,000,000 events rebuilt in under 2 minutes, extrapolated from this run's rate."""
LATENCY_TARGET = 1.5
RAW_PAGE = 5_000


@dataclass(frozen=True)
class Args:
    events: int
    seed: int
    database_url: str | None
    batch: int
    iterations: int
    warmup: int
    check: bool
    profile: bool


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the ledger")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated history")
    database_url_argument(parser)
    parser.add_argument("--batch", type=int, default=5_000, help="events per load transaction")
    parser.add_argument(
        "--iterations", type=int, default=2_000, help="timed calls per query variant"
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per variant")
    parser.add_argument(
        "--check", action="store_true", help="verify the history and the rebuilt tables"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile a second rebuild and the queries"
    )
    ns = parser.parse_args()
    if ns.events < 1_000 or ns.batch < 1 or ns.iterations < 1 or ns.warmup < 0:
        parser.error("--events >= 1000, --batch >= 1, --iterations >= 1, --warmup >= 0")
    return Args(
        ns.events,
        ns.seed,
        ns.database_url,
        ns.batch,
        ns.iterations,
        ns.warmup,
        ns.check,
        ns.profile,
    )


# -- 1. load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    events: int
    seconds: float
    generator: Generator


def load(engine: Engine, args: Args) -> Loaded:
    """Generate the history and append it in batches, no projections."""
    bulk = Ledger(engine, registry)
    generator = Generator(args.events, args.seed)
    appended = 0
    start = time.perf_counter()
    with make_progress() as progress:
        task = progress.add_task("generate + append (no projections)", total=args.events)
        for generated in generator.batches(args.batch):
            for batch in by_streams(generated, MAX_STREAMS):
                expected = dict.fromkeys((e.stream_id for e in batch), ANY)
                with bulk.write() as uow:
                    uow.append(batch, expected)
                appended += len(batch)
            progress.update(task, completed=appended)
    return Loaded(appended, time.perf_counter() - start, generator)


# -- 2 and 3. rebuild against the raw read ---------------------------------------------------


def raw_read(engine: Engine) -> tuple[int, float]:
    """Every row and column of ledger_events in position order, streamed; rows counted."""
    rows = 0
    start = time.perf_counter()
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=RAW_PAGE).exec_driver_sql(
            "SELECT * FROM ledger_events ORDER BY position"
        )
        for page in result.partitions():
            rows += len(page)
    return rows, time.perf_counter() - start


@dataclass
class WalWatch:
    """SQLite: the largest size the write-ahead log reached (sampled on rebuild progress).

    The rebuild reads every event in one long read transaction while it commits its
    flushes on other connections, so no checkpoint can get past the reader's snapshot and
    the log grows until the rebuild ends."""

    path: str | None
    peak: int = 0

    @staticmethod
    def of(engine: Engine) -> WalWatch:
        if engine.dialect.name != "sqlite":
            return WalWatch(None)
        return WalWatch(f"{engine.url.database}-wal")

    def sample(self) -> None:
        if self.path is not None and os.path.exists(self.path):
            self.peak = max(self.peak, os.path.getsize(self.path))


def timed_rebuild(ledger: Ledger, total: int, label: str, wal: WalWatch) -> float:
    with make_progress() as progress:
        task = progress.add_task(label, total=total)

        def on_progress(position: int) -> None:
            progress.update(task, completed=position)
            if position % 10_000 == 0:
                wal.sample()

        start = time.perf_counter()
        report = rebuild(ledger, on_progress)
        seconds = time.perf_counter() - start
    wal.sample()
    if report.events != total:
        raise SystemExit(f"rebuild replayed {report.events} events, expected {total}")
    return seconds


@dataclass(frozen=True)
class Floors:
    read_decode: float
    load_rows: float
    rows: int

    @property
    def seconds(self) -> float:
        return self.read_decode + self.load_rows


def rebuild_floors(ledger: Ledger) -> Floors:
    """See 3b in the module docstring."""
    start = time.perf_counter()
    with ledger.read() as conn:
        for record in ledger.store.read_all(conn, batch_size=2_000):
            if record.type in registry:
                record.decode(registry)
    read_decode = time.perf_counter() - start

    timeline: list[Any] = []
    contracts: list[Any] = []
    allocations: list[Any] = []
    replay = Replay(registry, timeline.extend, contracts.extend, allocations.extend)
    with ledger.read() as conn:
        replay.feed(ledger.store.read_all(conn, batch_size=2_000))
    timeline.extend(replay.series.all_current())
    contracts.extend(replay.contracts.current.values())
    allocations.extend(replay.contracts.current_allocations.values())
    with ledger.read() as conn:
        active = conn.execute(select(projection_state.c.active)).scalar_one()
    target = projection_sets["b" if active == "a" else "a"]
    with ledger.write() as uow:
        bulk.empty(uow.conn, target)
    writer = bulk.BulkWriter(target)
    start = time.perf_counter()
    for load, rows in (
        (writer.timeline, timeline),
        (writer.contracts, contracts),
        (writer.allocations, allocations),
    ):
        for first in range(0, len(rows), FLUSH_ROWS):
            with ledger.write() as uow:
                load(uow.conn, rows[first : first + FLUSH_ROWS])
    for index in bulk.indexes(target):
        with ledger.write() as uow:
            index.create(uow.conn, checkfirst=True)
    load_rows = time.perf_counter() - start
    with ledger.write() as uow:  # the inactive set is the next rebuild's to fill
        bulk.empty(uow.conn, target)
    return Floors(read_decode, load_rows, len(timeline) + len(contracts) + len(allocations))


# -- 4. queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    tenant: str
    name: str
    as_of: datetime
    known_at: int | None

    @property
    def label(self) -> str:
        return f"{self.tenant}: {self.name}"


@dataclass
class Latencies:
    variant: Variant
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.seconds, n=100)[98] * 1e3


def variants(generator: Generator, now: datetime) -> list[Variant]:
    result = []
    for tenant in (SMALL, LARGE):
        history = generator.history.tracked[tenant]
        index = len(history) // 3
        old_position = history[index][0] + 1  # positions count from 1 in a fresh ledger
        past = max(at for _, at in history[: index + 1])
        result.append(Variant(tenant, "as_of=now, known_at=head", now, None))
        result.append(
            Variant(tenant, f"as_of=past, known_at=old ({old_position:,})", past, old_position)
        )
    return result


def query(ledger: Ledger, variant: Variant) -> object:
    with ledger.read(transaction=False) as conn:  # as the API reads (contracts.api.common)
        return entitlements(conn, variant.tenant, variant.as_of, variant.known_at)


def measure_queries(ledger: Ledger, cases: list[Variant], args: Args) -> list[Latencies]:
    results = [Latencies(v, []) for v in cases]
    with make_progress() as progress:
        task = progress.add_task(
            "entitlements() queries", total=(args.warmup + args.iterations) * len(cases)
        )
        for _ in range(args.warmup):
            for variant in cases:
                query(ledger, variant)
            progress.advance(task, len(cases))
        clock = time.perf_counter
        for i in range(args.iterations):
            # Interleaved, in a rotating order, so every variant sees the same noise.
            shift = i % len(cases)
            for latencies in results[shift:] + results[:shift]:
                start = clock()
                query(ledger, latencies.variant)
                latencies.seconds.append(clock() - start)
            progress.advance(task, len(cases))
    return results


def describe(ledger: Ledger, variant: Variant) -> str:
    result = query(ledger, variant)
    return (
        f"{len(result.capacity)} resources, {len(result.limits)} limits, "  # type: ignore[attr-defined]
        f"{len(result.contracts)} contracts"  # type: ignore[attr-defined]
    )


# -- checks ----------------------------------------------------------------------------------


def check_history(ledger: Ledger) -> str:
    """Fold every stream and check the domain's invariants 3 and 4 on the final states
    (both are checked over all of business time, so final states cover every instant)."""
    states: dict[str, Aggregate] = {}
    with ledger.read() as conn:
        for record in ledger.store.read_all(conn, batch_size=5_000):
            states[record.stream_id] = evolve(
                states.get(record.stream_id), record.decode(registry), record
            )
    contracts = facilities = 0
    for state in states.values():
        if isinstance(state, Contract):
            check_allocations(state)
            contracts += 1
        elif isinstance(state, Facility):
            check_facility(state, "", None)
            facilities += 1
    return (
        f"history checked: {contracts:,} contracts within their capacity, "
        f"{facilities:,} facilities not overcommitted"
    )


def tenant_sizes(ledger: Ledger, generator: Generator) -> Table:
    table = Table(title="The two tenants", title_justify="left")
    for column in ("tenant", "events of history", "contracts", "timeline rows", "contract rows"):
        table.add_column(column, justify="left" if column == "tenant" else "right")
    with ledger.read() as conn:
        active = conn.execute(select(projection_state.c.active)).scalar_one()
        tables = projection_sets[active]
        for tenant in (SMALL, LARGE):
            timeline = conn.execute(
                select(func.count()).where(tables.timeline.c.owner == tenant)
            ).scalar_one()
            rows = conn.execute(
                select(func.count()).where(tables.contracts.c.tenant == tenant)
            ).scalar_one()
            table.add_row(
                tenant,
                f"{len(generator.history.tracked[tenant]):,}",
                f"{len(generator.history.tenants[tenant].contracts):,}",
                f"{timeline:,}",
                f"{rows:,}",
            )
    return table


# -- profile ---------------------------------------------------------------------------------


def profiled(label: str, work: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        work()
    finally:
        profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
        console.rule(f"cProfile: {label}, by {order}")
        print(out.getvalue().strip("\n"), flush=True)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    label = backend_label(args.database_url)
    console.print(
        f"[bold]projections benchmark[/] on {label}: {args.events:,} events (seed {args.seed}), "
        f"{args.iterations:,} timed queries per variant after {args.warmup:,} warm-up calls"
    )
    with throwaway_database(args.database_url, f"bench_projections_{os.getpid()}") as url:
        create_ledger_schema(url)
        engine = make_engine(url)
        try:
            loaded = load(engine, args)
            console.print(
                f"loaded {loaded.events:,} events in {loaded.seconds:.1f} s "
                f"({loaded.events / loaded.seconds:,.0f} events/s, generation included)"
            )
            events = loaded.events
            projected = build_ledger(engine)
            if args.check:
                console.print(check_history(projected))
            raw_before = raw_read(engine)
            wal = WalWatch.of(engine)
            rebuild_seconds = timed_rebuild(projected, events, "rebuild()", wal)
            if wal.path is not None:
                console.print(
                    f"SQLite write-ahead log peaked at {wal.peak / 2**30:,.1f} GiB "
                    "during the rebuild; checkpointed before reading on"
                )
            settle(engine)
            raw_after = raw_read(engine)
            with make_progress() as progress:
                progress.add_task("floors: read + decode; load the rebuilt rows", total=None)
                floors = rebuild_floors(projected)
            if args.check:
                report = check(projected)
                if not report.ok:
                    raise SystemExit(
                        f"rebuilt tables differ from a fresh replay: {report.missing[:3]} "
                        f"{report.unexpected[:3]}"
                    )
                console.print(
                    f"rebuilt tables checked against a fresh replay ({report.events:,} events)"
                )
            cases = variants(loaded.generator, utcnow())
            sizes = tenant_sizes(projected, loaded.generator)
            # The generator's state (every contract, tenant and allocation) is garbage now:
            # left alive, its millions of objects would make each full collection of the
            # cyclic GC a pause of hundreds of ms inside the timed queries.
            del loaded
            gc.collect()
            shapes = {v.label: describe(projected, v) for v in cases}
            latencies = measure_queries(projected, cases, args)
            console.print(sizes)
            print_results(
                label, events, rebuild_seconds, raw_before, raw_after, floors, latencies, shapes
            )
            if args.profile:
                profiled("a second rebuild()", lambda: rebuild(projected))
                for variant in cases:
                    if variant.tenant == LARGE:
                        profiled(
                            f"200 x entitlements({variant.label})",
                            lambda v=variant: [query(projected, v) for _ in range(200)],
                        )
        finally:
            engine.dispose()


def print_results(
    label: str,
    events: int,
    rebuild_seconds: float,
    raw_before: tuple[int, float],
    raw_after: tuple[int, float],
    floors: Floors,
    latencies: list[Latencies],
    shapes: dict[str, str],
) -> None:
    for rows, _ in (raw_before, raw_after):
        if rows != events:
            raise SystemExit(f"raw read counted {rows} rows, expected {events}")
    raw_seconds = (raw_before[1] + raw_after[1]) / 2
    rebuild_rate, raw_rate = events / rebuild_seconds, events / raw_seconds

    rates = Table(title=f"Rebuild against the raw read - {label}", title_justify="left")
    for column in ("workload", "events", "seconds", "events/s", "µs/event"):
        rates.add_column(column, justify="left" if column == "workload" else "right")
    timings = [
        ("rebuild()", rebuild_seconds),
        ("raw read, before rebuild", raw_before[1]),
        ("raw read, after rebuild", raw_after[1]),
        ("raw read, mean", raw_seconds),
        ("floor: read + decode every event", floors.read_decode),
        (f"floor: load the {floors.rows:,} rebuilt rows + indexes", floors.load_rows),
        ("floor of any rebuild (the two above)", floors.seconds),
    ]
    for name, seconds in timings:
        rates.add_row(
            name,
            f"{events:,}",
            f"{seconds:.2f}",
            f"{events / seconds:,.0f}",
            f"{seconds / events * 1e6:.1f}",
        )
    console.print(rates)

    queries = Table(title=f"entitlements() latency - {label}", title_justify="left")
    for column in ("tenant: variant", "result", "calls", "median ms", "p99 ms"):
        queries.add_column(
            column, justify="left" if column in ("tenant: variant", "result") else "right"
        )
    for item in latencies:
        queries.add_row(
            item.variant.label,
            shapes[item.variant.label],
            f"{len(item.seconds):,}",
            f"{item.median_ms:.3f}",
            f"{item.p99_ms:.3f}",
        )
    console.print(queries)

    ratios = Table(title="Ratios (same run)", title_justify="left")
    for column in ("ratio", "value", "target", "verdict"):
        ratios.add_column(column, justify="left" if column in ("ratio", "verdict") else "right")
    floor_rate = events / floors.seconds
    ratio = rebuild_rate / floor_rate
    ratios.add_row(
        "rebuild / floor (read+decode, then load the rows)",
        f"{ratio:.3f}",
        f">= {REBUILD_TARGET:.2f}",
        _verdict(ratio >= REBUILD_TARGET),
    )
    million = 1_000_000 / rebuild_rate
    ratios.add_row(
        "  1,000,000 events at this rate, seconds",
        f"{million:.0f}",
        f"<= {MILLION_TARGET_SECONDS:.0f}",
        _verdict(million <= MILLION_TARGET_SECONDS),
    )
    ratios.add_row(
        "  for information: rebuild / raw read; its ceiling (floor / raw read)",
        f"{rebuild_rate / raw_rate:.3f}; {floor_rate / raw_rate:.3f}",
        "",
        "",
    )
    by_name = {(item.variant.tenant, item.variant.name.split(" (")[0]): item for item in latencies}
    for name in ("as_of=now, known_at=head", "as_of=past, known_at=old"):
        small, large = by_name[(SMALL, name)], by_name[(LARGE, name)]
        for stat in ("median", "p99"):
            value = getattr(large, f"{stat}_ms") / getattr(small, f"{stat}_ms")
            ratios.add_row(
                f"large / small, {name}, {stat}",
                f"{value:.2f}",
                f"<= {LATENCY_TARGET:.2f}",
                _verdict(value <= LATENCY_TARGET),
            )
    console.print(ratios)
    console.print(NOISE_NOTE)


def _verdict(met: bool) -> str:
    return "[green]meets target[/]" if met else "[red]below target[/]"


if __name__ == "__main__":
    main()
