"""The ledger against a peer: the `eventsourcing` library (9.5.6), in the same run.

Each store works on its own fresh throwaway database. Workloads, in this order:

  bulk    `--events` events over 100 streams in transactions of `--batch` events.
          Ours: `uow.append(batch, {stream: ANY})`. Peer: `EventStore.put(batch)`, each event
          carrying its next version (the peer has no "any version"; its primary key on
          (originator_id, originator_version) is its concurrency check).
  single  `--single` appends of one event per transaction, each with the stream's exact
          expected version (ours: expected version; peer: the event's originator_version).
  replay  decoded replay of the bulk workload's `--events` events, `--replay-passes` times:
          read in position order in pages of 1,000 and decode each into its model. Ours:
          `ledger.store.read_all(conn, up_to=N)` + `record.decode(registry)` (pydantic).
          Peer: `recorder.select_notifications(...)` pages + `mapper.to_domain_event`.
  cycle   `--cycles` full command cycles: load a 5-event stream, decide, append one event,
          commit. Ours: `execute(build_ledger(engine), ResizeAllocation(...), Context())` on
          contract streams of 5 events (drafted, signed, allocated, resized, resized), each
          contract used once; the handler also loads the tenant's party stream (1 event),
          and the inline entitlement projection runs in the same transaction. Peer: an
          `Aggregate` with 5 events (the same lifecycle) loaded with
          `app.repository.get(id)`, a `resize` command that checks the allocation fits the
          contract, and `app.save(aggregate)`; the peer has no inline projection.

bulk and single are timed from event object to committed row (`EventStore.put` for the
peer, `uow.append` in a `ledger.write()` transaction for us), cycle from command object to
commit, replay from first query to last decoded event; input objects are built outside the
timed regions. The peer is built the way an `eventsourcing` Application builds itself: an
Application subclass configured by environment variables (PERSISTENCE_MODULE
eventsourcing.sqlite / eventsourcing.postgres), which creates its tables, with the JSON
transcoder and its UUID, Decimal and datetime transcodings. The cycle's setup histories are
written in bulk before timing starts (ours: appended without projections, then
`rebuild()`; peer: `app.save` of 100 aggregates at a time). On SQLite the peer's
connections are set to `synchronous=NORMAL` like ours (its default, FULL, costs an fsync
per commit); `--peer-sqlite-synchronous FULL` measures its default.

Workloads interleave the stores operation by operation, so both see the same machine noise;
their times are accumulated separately. Targets (ours/peer): bulk, single and replay
>= 1.0, command cycle >= 1.0. `--profile` runs cProfile over our timed blocks and prints
the hot spots (the figures then include the profiler's overhead).

Extending: add a function to WORKLOADS (it gets every store, the arguments and the progress
display, and returns one Stopwatch per store), and give `Store` and both stores the
operations it needs.

Usage: python bench/peer.py [--events 100000] [--batch 1000] [--single 5000]
                            [--cycles 2000] [--replay-passes 3] [--database-url URL]
                            [--peer-sqlite-synchronous NORMAL|FULL] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from importlib.metadata import version
from importlib.util import find_spec
from typing import Any, Protocol

import history
from common import (
    NOISE_NOTE,
    SINGLE_STREAMS,
    EventSource,
    EventSpec,
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
from cycle_floor import SqliteCopies, durable_commit
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from ledger.bootstrap import build_ledger
from ledger.domain.commands import ResizeAllocation
from ledger.projections.rebuild import rebuild
from ledger.service import Context, execute
from ledger.sql.engine import make_engine, normalise_url
from ledger.store import ANY
from ledger.tables import events
from ledger.types import utcnow
from ledger.unit_of_work import Ledger

PEER_VERSION = version("eventsourcing")
REPLAY_PAGE = 1_000
CYCLE_SEED = 20261126
TARGETS = {"bulk append": 1.0, "1 event/tx": 1.0, "decoded replay": 1.0, "command cycle": 1.0}
"""ours/peer targets per workload."""

Write = Callable[[], None]
"""One prepared operation: calling it does (only) the timed work."""


@dataclass(frozen=True)
class Args:
    events: int
    batch: int
    single: int
    cycles: int
    replay_passes: int
    database_url: str | None
    peer_sqlite_synchronous: str
    profile: bool


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--batch", type=int, default=1_000, help="events per batch transaction")
    parser.add_argument(
        "--single", type=int, default=5_000, help="appends of one event per transaction"
    )
    parser.add_argument(
        "--cycles", type=int, default=2_000, help="command cycles (one contract each)"
    )
    parser.add_argument(
        "--replay-passes",
        type=int,
        default=3,
        help="decoded replays of the bulk workload's events (0: none)",
    )
    database_url_argument(parser)
    parser.add_argument(
        "--peer-sqlite-synchronous",
        choices=("NORMAL", "FULL"),
        default="NORMAL",
        help="PRAGMA synchronous for the peer's SQLite connections (ours uses NORMAL)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile our timed blocks and print the hot spots (skews our figures)",
    )
    ns = parser.parse_args()
    if min(ns.events, ns.single, ns.cycles, ns.replay_passes) < 0 or ns.batch < 1:
        parser.error("counts must be >= 0, --batch >= 1")
    return Args(
        ns.events,
        ns.batch,
        ns.single,
        ns.cycles,
        ns.replay_passes,
        ns.database_url,
        ns.peer_sqlite_synchronous,
        ns.profile,
    )


# -- the stores -----------------------------------------------------------------------------


class Store(Protocol):
    """What a workload may ask of a store. `prepare_*` build the store's own input objects
    (untimed) and return the operation to time."""

    name: str

    def prepare_batch(self, specs: Sequence[EventSpec]) -> Write: ...

    def prepare_one(self, spec: EventSpec) -> Write: ...

    def stored_events(self) -> int: ...

    def replay(self, count: int) -> int:
        """Read and decode the first `count` events; returns how many were decoded."""
        ...

    def setup_cycles(self, plan: CyclePlan) -> None: ...

    def prepare_cycle(self, step: CycleStep) -> Write: ...

    def cycled_versions(self) -> set[int]:
        """The version of every cycled stream (6 when each took its one command)."""
        ...


@dataclass(frozen=True)
class CycleStep:
    """One command: resize `contract`'s allocation to `quantity`."""

    contract: int
    quantity: Decimal


@dataclass(frozen=True)
class CyclePlan:
    """The same contracts for both stores: contract i has one allocation of `resource`,
    capped at `caps[i]` (a third of its contracted quantity), resized twice in setup."""

    contracts: int
    steps: list[CycleStep]

    @staticmethod
    def make(count: int) -> CyclePlan:
        rng = random.Random(CYCLE_SEED + 1)
        return CyclePlan(count, [CycleStep(i, Decimal(rng.randint(1, 900))) for i in range(count)])


class Ours:
    """The ledger: `Ledger.write()` and `uow.append`, schema by alembic."""

    name = "ours"

    def __init__(self, url: str) -> None:
        create_ledger_schema(url)
        self.engine = make_engine(url)
        self.ledger = Ledger(self.engine, registry)
        self.projected: Ledger | None = None
        self.cycle_copies: SqliteCopies | None = None
        self.cycle_targets: list[tuple[str, str]] = []

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

    def replay(self, count: int) -> int:
        decoded = 0
        with self.ledger.read() as conn:
            for record in self.ledger.store.read_all(conn, up_to=count, batch_size=REPLAY_PAGE):
                record.decode(registry)
                decoded += 1
        return decoded

    def setup_cycles(self, plan: CyclePlan) -> None:
        """Parties, facilities and `plan.contracts` contracts of 5 events each, appended
        without projections; then `rebuild()` builds the projections."""
        generated = history.History(CYCLE_SEED, 10**9)
        generated.clock = utcnow() - timedelta(days=30)
        new: list[Any] = generated.register_provider("provider-000")
        for f in range(max(1, plan.contracts // 20)):
            new += generated.register_facility(f"facility-{f:05d}", "provider-000")
        tenants = [f"tenant-{t:05d}" for t in range(max(1, plan.contracts // 10))]
        for tenant in tenants:
            new += generated.register_tenant(tenant)
        for i in range(plan.contracts):
            contract, drafted = generated.draft(
                tenants[i % len(tenants)],
                resources=1,
                term_days=(1_000, 1_100),
                start_in_days=0,
                quantity=(2_700, 2_701),  # cap of its one allocation: 900
            )
            new += drafted + generated.sign(contract)
            new += generated.allocate(contract)
            new += generated.resize(contract, backdated=0)
            new += generated.resize(contract, backdated=0)
            (allocation,) = contract.allocations
            self.cycle_targets.append((contract.contract_id, allocation.allocation_id))
        bulk = Ledger(self.engine, history.registry)
        for batch in history.by_streams(new):
            with bulk.write() as uow:
                uow.append(batch, dict.fromkeys((e.stream_id for e in batch), ANY))
        self.projected = build_ledger(self.engine)
        rebuild(self.projected)
        if self.engine.dialect.name == "sqlite":  # the database as the timed cycles find it
            self.cycle_copies = SqliteCopies.of(self.engine)

    def cycle_command(self, step: CycleStep) -> ResizeAllocation:
        contract_id, allocation_id = self.cycle_targets[step.contract]
        return ResizeAllocation(
            contract_id=contract_id,
            allocation_id=allocation_id,
            quantity=step.quantity,
            reason="rebalance",
        )

    def cycle_statements_alone(self, plan: CyclePlan) -> float | None:
        """Seconds the timed cycles' statements take alone (SQLite; see cycle_floor)."""
        if self.cycle_copies is None:
            return None

        def run_untimed(engine: Engine) -> None:
            ledger = build_ledger(engine)
            for step in plan.steps:
                execute(ledger, self.cycle_command(step), Context())

        return self.cycle_copies.statements_alone(run_untimed)

    def prepare_cycle(self, step: CycleStep) -> Write:
        command = self.cycle_command(step)
        ledger = self.projected
        assert ledger is not None

        def cycle() -> None:
            execute(ledger, command, Context())

        return cycle

    def cycled_versions(self) -> set[int]:
        streams = [f"contract-{contract_id}" for contract_id, _ in self.cycle_targets]
        with self.ledger.read() as conn:
            return set(self.ledger.store.stream_versions(conn, streams).values())

    def close(self) -> None:
        self.engine.dispose()


# -- the peer -------------------------------------------------------------------------------


class PeerBenchEvent(DomainEvent):
    """The peer's form of the benchmark event (a frozen dataclass, as its events are)."""

    tenant: str
    resource: str
    quantity: Decimal
    note: str
    effective_at: datetime
    actor: str
    source: str


class PeerContract(Aggregate):
    """The peer's contract: the lifecycle our contract streams hold, as an Aggregate."""

    @event("Drafted")
    def __init__(
        self,
        tenant: str,
        facility: str,
        resource: str,
        quantity: Decimal,
        term_start: datetime,
        term_end: datetime,
    ) -> None:
        self.tenant = tenant
        self.facility = facility
        self.resource = resource
        self.quantity = quantity
        self.term_start = term_start
        self.term_end = term_end
        self.lifecycle = "draft"
        self.allocations: dict[str, Decimal] = {}

    @event("Signed")
    def sign(self, signed_by: list[str]) -> None:
        self.lifecycle = "signed"
        self.signed_by = signed_by

    @event("Allocated")
    def allocate(self, allocation_id: str, workload: str, quantity: Decimal) -> None:
        self.allocations[allocation_id] = quantity

    def resize(self, allocation_id: str, quantity: Decimal) -> None:
        """The command: the contract must be signed, the allocation must exist, and the
        allocations must fit the contracted quantity."""
        if self.lifecycle != "signed":
            raise ValueError("not signed")
        if allocation_id not in self.allocations:
            raise KeyError(allocation_id)
        others = sum(q for a, q in self.allocations.items() if a != allocation_id)
        if others + quantity > self.quantity:
            raise ValueError("allocations would exceed the contract")
        self._resized(allocation_id, quantity)

    @event("Resized")
    def _resized(self, allocation_id: str, quantity: Decimal) -> None:
        self.allocations[allocation_id] = quantity


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


class PeerApp(Application[uuid.UUID]):
    """An eventsourcing Application; on SQLite its connections get `synchronous` set before
    the first one opens."""

    def __init__(self, env: dict[str, str], sqlite_synchronous: str) -> None:
        self._sqlite_synchronous = sqlite_synchronous
        super().__init__(env)

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        factory = super().construct_factory(env)
        if isinstance(factory, SQLiteFactory):
            _set_sqlite_synchronous(factory, self._sqlite_synchronous)
        return factory


class Peer:
    """`eventsourcing`'s Application: its EventStore, recorder, mapper and repository."""

    name = f"eventsourcing {PEER_VERSION}"

    def __init__(self, url: str, sqlite_synchronous: str) -> None:
        self.app = PeerApp(peer_environment(url), sqlite_synchronous)
        self.cycle_ids: list[uuid.UUID] = []

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

    def _put(self, domain_events: Sequence[PeerBenchEvent]) -> None:
        self.app.events.put(domain_events)

    def stored_events(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def replay(self, count: int) -> int:
        recorder, mapper = self.app.recorder, self.app.mapper
        decoded, last = 0, 0
        while decoded < count:
            page = recorder.select_notifications(
                start=last, limit=REPLAY_PAGE, stop=count, inclusive_of_start=False
            )
            if not page:
                break
            for notification in page:
                mapper.to_domain_event(notification)
            decoded += len(page)
            last = page[-1].id
        return decoded

    def setup_cycles(self, plan: CyclePlan) -> None:
        """`plan.contracts` aggregates of 5 events each (drafted, signed, allocated, resized
        twice), saved 100 at a time."""
        rng = random.Random(CYCLE_SEED)
        start = utcnow() - timedelta(days=30)
        pending: list[PeerContract] = []
        for i in range(plan.contracts):
            contract = PeerContract(
                tenant=f"tenant-{i % max(1, plan.contracts // 10):05d}",
                facility=f"facility-{i % max(1, plan.contracts // 20):05d}",
                resource="gpu.h100",
                quantity=Decimal(2_700),
                term_start=start,
                term_end=start + timedelta(days=1_000),
            )
            contract.sign(["provider-000", contract.tenant])
            allocation_id = f"alc_{i:07d}_1"
            contract.allocate(allocation_id, "inference", Decimal(rng.randint(90, 900)))
            contract.resize(allocation_id, Decimal(rng.randint(1, 900)))
            contract.resize(allocation_id, Decimal(rng.randint(1, 900)))
            self.cycle_ids.append(contract.id)
            pending.append(contract)
            if len(pending) == 100:
                self.app.save(*pending)
                pending = []
        if pending:
            self.app.save(*pending)

    def prepare_cycle(self, step: CycleStep) -> Write:
        aggregate_id = self.cycle_ids[step.contract]
        allocation_id = f"alc_{step.contract:07d}_1"
        app = self.app

        def cycle() -> None:
            contract: PeerContract = app.repository.get(aggregate_id)
            contract.resize(allocation_id, step.quantity)
            app.save(contract)

        return cycle

    def cycled_versions(self) -> set[int]:
        return {self.app.repository.get(i).version for i in self.cycle_ids}

    def close(self) -> None:
        self.app.close()  # closes its connection pool


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


class Profiles:
    """cProfile of our timed blocks, one profiler per workload (when --profile is on)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.profilers: dict[str, cProfile.Profile] = {}

    @contextmanager
    def of(self, workload: str, store: Store) -> Iterator[None]:
        if not self.enabled or not isinstance(store, Ours):
            yield
            return
        profiler = self.profilers.setdefault(workload, cProfile.Profile())
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()

    def print(self) -> None:
        for workload, profiler in self.profilers.items():
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
                console.rule(f"cProfile of ours, {workload}, by {order}")
                # Plain print: pstats lines are wider than the console and must not be wrapped.
                print(out.getvalue().strip("\n"), flush=True)


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Sequence[Store], Args, Progress, Profiles], list[Stopwatch]]
    enabled: Callable[[Args], bool]
    noun: str = "event"
    appends_bench_events: bool = False


def bulk(
    stores: Sequence[Store], args: Args, progress: Progress, profiles: Profiles
) -> list[Stopwatch]:
    watches = [Stopwatch(f"{store.name}: bulk, {args.batch:,}/tx") for store in stores]
    task = progress.add_task("bulk append", total=args.events)
    source = EventSource()
    remaining = args.events
    while remaining:
        size = min(args.batch, remaining)
        specs = source.take(size)
        for store, watch in zip(stores, watches, strict=True):
            write = store.prepare_batch(specs)
            with watch.timing(size), profiles.of("bulk append", store):
                write()
        remaining -= size
        progress.advance(task, size)
    return watches


def single(
    stores: Sequence[Store], args: Args, progress: Progress, profiles: Profiles
) -> list[Stopwatch]:
    watches = [Stopwatch(f"{store.name}: 1 event/tx") for store in stores]
    task = progress.add_task("one event per transaction", total=args.single)
    # Streams of its own, so that this workload does not depend on what ran before it.
    source = EventSource(first_stream=SINGLE_STREAMS)
    for _ in range(args.single):
        (spec,) = source.take(1)
        for store, watch in zip(stores, watches, strict=True):
            write = store.prepare_one(spec)
            with watch.timing(1), profiles.of("1 event/tx", store):
                write()
        progress.advance(task)
    return watches


def decoded_replay(
    stores: Sequence[Store], args: Args, progress: Progress, profiles: Profiles
) -> list[Stopwatch]:
    """Each pass reads the bulk workload's events, first ours then the peer's (alternating
    which goes first)."""
    watches = [Stopwatch(f"{store.name}: decoded replay") for store in stores]
    task = progress.add_task("decoded replay", total=args.events * args.replay_passes)
    pairs = list(zip(stores, watches, strict=True))
    for index in range(args.replay_passes):
        for store, watch in pairs if index % 2 == 0 else pairs[::-1]:
            with watch.timing(args.events), profiles.of("decoded replay", store):
                decoded = store.replay(args.events)
            if decoded != args.events:
                raise SystemExit(f"{store.name} decoded {decoded} events, not {args.events}")
        progress.advance(task, args.events)
    return watches


def command_cycle(
    stores: Sequence[Store], args: Args, progress: Progress, profiles: Profiles
) -> list[Stopwatch]:
    plan = CyclePlan.make(args.cycles)
    setup = progress.add_task("command cycle: setup (untimed)", total=len(stores))
    for store in stores:
        store.setup_cycles(plan)
        progress.advance(setup)
    watches = [Stopwatch(f"{store.name}: command cycle") for store in stores]
    task = progress.add_task("command cycle", total=args.cycles)
    for step in plan.steps:
        for store, watch in zip(stores, watches, strict=True):
            cycle = store.prepare_cycle(step)
            with watch.timing(1), profiles.of("command cycle", store):
                cycle()
        progress.advance(task)
    for store in stores:  # a sanity check of the run, not of speed
        versions = store.cycled_versions()
        if versions != {6}:
            raise SystemExit(f"{store.name}: cycled streams are at versions {versions}, not 6")
    return watches


def check_counts(stores: Sequence[Store], expected: int) -> str:
    """Every store must hold every appended event: a sanity check of the run, not of speed."""
    counts = {store.name: store.stored_events() for store in stores}
    if any(count != expected for count in counts.values()):
        raise SystemExit(f"stored event counts differ from {expected}: {counts}")
    return f"checked: {' and '.join(counts)} hold {expected:,} appended events each"


WORKLOADS = [
    Workload("bulk append", bulk, lambda args: args.events > 0, appends_bench_events=True),
    Workload("1 event/tx", single, lambda args: args.single > 0, appends_bench_events=True),
    Workload("decoded replay", decoded_replay, lambda a: a.events > 0 and a.replay_passes > 0),
    Workload("command cycle", command_cycle, lambda args: args.cycles > 0, noun="command"),
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


@dataclass(frozen=True)
class Result:
    workload: Workload
    ours: Stopwatch
    peer: Stopwatch

    @property
    def ratio(self) -> float:
        return self.ours.rate / self.peer.rate if self.peer.rate else 0.0

    @property
    def target(self) -> float:
        return TARGETS[self.workload.name]


def comparison_table(results: list[Result], label: str) -> Table:
    table = Table(title=f"Ours vs eventsourcing {PEER_VERSION} - {label}", title_justify="left")
    table.add_column("workload")
    table.add_column("unit")
    table.add_column("ours", justify="right")
    table.add_column("peer", justify="right")
    table.add_column("ours/peer", justify="right")
    table.add_column("target", justify="right")
    table.add_column("verdict")
    for result in results:
        met = result.ratio >= result.target
        table.add_row(
            result.workload.name,
            f"{result.workload.noun}s/s",
            f"{result.ours.rate:,.0f}",
            f"{result.peer.rate:,.0f}",
            f"{result.ratio:.2f}",
            f">= {result.target:.2f}",
            "[green]meets target[/]" if met else "[red]below target[/]",
        )
    return table


def cycle_floors(ours: Ours, cycle: Result, args: Args, label: str) -> Table:
    """What no implementation of our cycle could beat in this run (see bench/cycle_floor.py),
    and the ceiling it puts on ours/peer."""
    statements = ours.cycle_statements_alone(CyclePlan.make(args.cycles))
    commit = durable_commit(ours.engine.url.render_as_string(hide_password=False))
    peer_seconds = cycle.peer.seconds / cycle.peer.count
    floors = [("a durable one-row commit, bare driver", commit)]
    if statements is not None:
        floors.append(("our cycle's own statements alone, bare sqlite3", statements / args.cycles))
    table = Table(title=f"Floors under our command cycle - {label}", title_justify="left")
    for column in ("floor", "µs/command", "peer's cycle / floor", "target", "verdict"):
        table.add_column(column, justify="left" if column in ("floor", "verdict") else "right")
    for name, seconds in floors:
        ceiling = peer_seconds / seconds
        table.add_row(
            name,
            f"{seconds * 1e6:,.1f}",
            f"{ceiling:.2f}",
            f">= {TARGETS['command cycle']:.2f}",
            "reachable" if ceiling >= TARGETS["command cycle"] else "[red]out of reach[/]",
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
        f"{args.single:,} one-event transactions, {args.replay_passes} decoded replays of "
        f"the {args.events:,}, {args.cycles:,} command cycles"
    )
    profiles = Profiles(args.profile)
    results: list[Result] = []
    checked = ""
    with stores(args) as (ours, peer), make_progress() as progress:
        appended = 0
        for workload in WORKLOADS:
            if not workload.enabled(args):
                continue
            if not workload.appends_bench_events and not checked:
                checked = check_counts([ours, peer], appended)
            ours_watch, peer_watch = workload.run([ours, peer], args, progress, profiles)
            results.append(Result(workload, ours_watch, peer_watch))
            if workload.appends_bench_events:
                appended += ours_watch.count
        if not checked:
            checked = check_counts([ours, peer], appended)

        cycle = next((r for r in results if r.workload.name == "command cycle"), None)
        floors = cycle_floors(ours, cycle, args, label) if cycle else None

    for noun in dict.fromkeys(r.workload.noun for r in results):
        watches = [w for r in results if r.workload.noun == noun for w in (r.ours, r.peer)]
        console.print(rates_table(f"Throughput ({noun}s) - {label}", watches, f"{noun}s/s", noun))
    console.print(comparison_table(results, label))
    if floors is not None:
        console.print(floors)
    console.print(checked)
    if args.profile:
        console.print("[yellow]--profile was on: our figures include profiler overhead")
    console.print(NOISE_NOTE)
    profiles.print()


if __name__ == "__main__":
    main()
