"""Rebuilding the projections from the events, and checking them against a fresh replay.

A rebuild replays every event into memory with the same `project_event` the inline
projection runs, writing rows into the *inactive* table set as they become final, then
takes the head lock, catches up with what was appended meanwhile, and flips the active
set. Readers keep using the old set until that flip, and writers are held only for the
catch-up.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update

from ledger.domain.aggregates import Aggregate, evolve
from ledger.domain.contract import Allocation, Contract
from ledger.events import EventRegistry, RecordedEvent
from ledger.projections import bulk
from ledger.projections.bulk import (
    TIMELINE_COLUMNS,
    BulkWriter,
    slot_values,
    timeline_values,
)
from ledger.projections.projector import project_event
from ledger.projections.rows import (
    AllocationRow,
    ContractRow,
    FacilityRow,
    PartyRow,
    allocation_row,
    contract_row,
)
from ledger.projections.series import MemorySeriesStore, Row
from ledger.sql.driver import Driver
from ledger.tables import (
    KNOWN_FOREVER,
    PROJECTION_FORMAT,
    ProjectionTables,
    projection_sets,
    projection_state,
)
from ledger.types import utcnow
from ledger.unit_of_work import Ledger

FLUSH_ROWS = 5_000
PAGE = 2_000
Progress = Callable[[int], None]


@dataclass
class MemoryRowStore:
    on_closed: Callable[[list[ContractRow]], None]
    on_closed_allocations: Callable[[list[AllocationRow]], None]
    current: dict[str, ContractRow] = field(default_factory=dict)
    current_allocations: dict[tuple[str, str], AllocationRow] = field(default_factory=dict)
    registered: list[PartyRow | FacilityRow] = field(default_factory=list)

    def put(self, state: Contract, position: int) -> None:
        old = self.current.get(state.contract_id)
        if old is not None:
            self.on_closed([replace(old, known_to=position)])
        self.current[state.contract_id] = contract_row(state, position)

    def put_allocation(self, state: Contract, allocation: Allocation, position: int) -> None:
        key = (state.contract_id, allocation.allocation_id)
        old = self.current_allocations.get(key)
        if old is not None:
            self.on_closed_allocations([replace(old, known_to=position)])
        self.current_allocations[key] = allocation_row(state, allocation, position)

    def put_registered(self, row: PartyRow | FacilityRow) -> None:
        self.registered.append(row)

    def registered_since(self, position: int) -> list[PartyRow | FacilityRow]:
        return [row for row in self.registered if row.position > position]


class Replay:
    """Folds events into in-memory projections; final rows go to the sinks."""

    def __init__(
        self,
        registry: EventRegistry,
        timeline_sink: Callable[[list[Row]], None],
        contract_sink: Callable[[list[ContractRow]], None],
        allocation_sink: Callable[[list[AllocationRow]], None],
    ) -> None:
        self.registry = registry
        self.states: dict[str, Aggregate] = {}
        self.series = MemorySeriesStore(timeline_sink)
        self.contracts = MemoryRowStore(contract_sink, allocation_sink)
        self.position = 0

    def feed(self, records: Iterable[RecordedEvent]) -> None:
        for record in records:
            self.position = record.position
            if record.type not in self.registry:
                continue
            event = record.decode(self.registry)
            before = self.states.get(record.stream_id)
            after = evolve(before, event, record)
            self.states[record.stream_id] = after
            project_event(record, event, before, after, self.series, self.contracts)


class _Writer:
    """Buffers rows and loads them into the target set in bulk.

    Until `snapshot` is set every row is new to the tables. From then on (the catch-up,
    under the head lock) a row the replay closes may be one the snapshot loaded as current:
    that one is closed where it stands rather than loaded a second time.
    """

    def __init__(self, ledger: Ledger, tables: ProjectionTables) -> None:
        self.ledger = ledger
        self.tables = tables
        self.bulk = BulkWriter(tables)
        self.snapshot: int | None = None
        self.timeline: list[Row] = []
        self.contracts: list[ContractRow] = []
        self.allocations: list[AllocationRow] = []

    def add_timeline(self, rows: Iterable[Row]) -> None:
        self.timeline.extend(rows)

    def add_contracts(self, rows: Iterable[ContractRow]) -> None:
        self.contracts.extend(rows)

    def add_allocations(self, rows: Iterable[AllocationRow]) -> None:
        self.allocations.extend(rows)

    def pending(self) -> int:
        return len(self.timeline) + len(self.contracts) + len(self.allocations)

    def flush(self, conn: Connection | None = None) -> None:
        if not self.pending():
            return
        if conn is None:
            with self.ledger.write() as uow:
                self._write(uow.conn)
        else:
            self._write(conn)

    def _write(self, conn: Connection) -> None:
        timeline, contracts, allocations = self.timeline, self.contracts, self.allocations
        self.timeline, self.contracts, self.allocations = [], [], []
        if self.snapshot is not None:
            timeline = self._close_loaded(conn, timeline, _close_timeline(self.tables))
            contracts = self._close_loaded(conn, contracts, _close_contract(self.tables))
            allocations = self._close_loaded(conn, allocations, _close_allocation(self.tables))
        if timeline:
            self.bulk.timeline(conn, timeline)
        if contracts:
            self.bulk.contracts(conn, contracts)
        if allocations:
            self.bulk.allocations(conn, allocations)

    def _close_loaded(self, conn: Connection, rows: list[_R], close: Closer[_R]) -> list[_R]:
        """Close the rows the snapshot loaded as current; return the ones still to load."""
        assert self.snapshot is not None
        loaded = [r for r in rows if r.known_from <= self.snapshot]
        if loaded:
            statement, parameters = close
            conn.execute(statement, [parameters(r) for r in loaded])
        return [r for r in rows if r.known_from > self.snapshot]


_R = TypeVar("_R", Row, ContractRow, AllocationRow)
Closer = tuple[Any, Callable[[_R], dict[str, Any]]]


def _closer(
    table: Table, keys: tuple[str, ...], key_of: Callable[[_R], tuple[Any, ...]]
) -> Closer[_R]:
    """The statement closing a current row found by `keys`, and its parameters for a row.
    (Bound names apart from the columns': an UPDATE reserves its columns' names for SET.)"""
    statement = (
        update(table)
        .where(
            *(table.c[k] == bindparam(f"b_{k}") for k in keys), table.c.known_to == KNOWN_FOREVER
        )
        .values(known_to=bindparam("b_known_to"))
    )
    names = [f"b_{k}" for k in keys]

    def parameters(row: _R) -> dict[str, Any]:
        return {**dict(zip(names, key_of(row), strict=True)), "b_known_to": row.known_to}

    return statement, parameters


def _close_timeline(tables: ProjectionTables) -> Closer[Row]:
    return _closer(
        tables.timeline,
        ("owner", "kind", "key", "valid_from", "known_from"),
        lambda r: (
            r.series.owner,
            r.series.kind,
            r.series.key,
            r.interval.valid_from,
            r.known_from,
        ),
    )


def _close_contract(tables: ProjectionTables) -> Closer[ContractRow]:
    return _closer(
        tables.contracts, ("contract_id", "known_from"), lambda r: (r.contract_id, r.known_from)
    )


def _close_allocation(tables: ProjectionTables) -> Closer[AllocationRow]:
    return _closer(
        tables.allocations,
        ("contract_id", "allocation_id", "known_from"),
        lambda r: (r.contract_id, r.allocation_id, r.known_from),
    )


@dataclass(frozen=True)
class RebuildReport:
    events: int
    active: str
    timeline_rows: int
    contract_rows: int


def _read(
    ledger: Ledger, conn: Connection, after: int, up_to: int | None = None
) -> Iterator[RecordedEvent]:
    return ledger.store.read_all(conn, after, batch_size=2_000, up_to=up_to)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A replay allocates millions of objects that hold no reference cycles (frozen states,
    rows); the cyclic collector's passes over them are wasted (about 6% of a rebuild)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def rebuild(ledger: Ledger, on_progress: Progress | None = None) -> RebuildReport:
    with _cyclic_gc_paused():
        return _rebuild(ledger, on_progress)


def _rebuild(ledger: Ledger, on_progress: Progress | None) -> RebuildReport:
    with ledger.read() as conn:
        active = conn.execute(select(projection_state.c.active)).scalar_one()
    target = projection_sets["b" if active == "a" else "a"]
    with ledger.write() as uow:
        bulk.empty(uow.conn, target)

    writer = _Writer(ledger, target)
    replay = Replay(
        ledger.registry, writer.add_timeline, writer.add_contracts, writer.add_allocations
    )
    caught_up_to = ledger.head().position
    # A range of positions per read transaction, not one long one: on SQLite a reader open
    # for the whole replay keeps every checkpoint from completing, and the WAL grew to 19 GiB
    # at 1M events. Events never change, so ranges read apart are still one consistent
    # history. (Ranges, not "the next PAGE events": see `EventStore.read_all`.)
    after = 0
    while after < caught_up_to:
        through = min(after + PAGE, caught_up_to)
        with ledger.read() as conn:
            page = ledger.store.read_range(conn, after, through)
        for record in page:
            replay.feed((record,))
            if writer.pending() >= FLUSH_ROWS:
                writer.flush()
            if on_progress is not None and record.position % 1_000 == 0:
                on_progress(record.position)
        after = through
    # The rows current at the snapshot go in now as well, so that every row but the
    # catch-up's is loaded before the indexes are built, and none under the head lock.
    writer.add_timeline(replay.series.all_current())
    writer.add_contracts(replay.contracts.current.values())
    writer.add_allocations(replay.contracts.current_allocations.values())
    writer.flush()
    writer.snapshot = caught_up_to
    for index in bulk.indexes(target):
        # One transaction per index: on SQLite each holds the write lock while it builds.
        with ledger.write() as uow:
            index.create(uow.conn, checkfirst=True)
    with ledger.write() as uow:
        ledger.dialect.analyze(uow.conn, (target.timeline, target.contracts, target.allocations))

    with ledger.write() as uow:
        # The head lock holds writers back while the last events are folded in.
        head_position = ledger.store.lock_head(uow.conn)
        replay.feed(_read(ledger, uow.conn, caught_up_to, head_position))
        snapshot = writer.snapshot
        writer.add_timeline(r for r in replay.series.all_current() if r.known_from > snapshot)
        writer.add_contracts(
            r for r in replay.contracts.current.values() if r.known_from > snapshot
        )
        writer.add_allocations(
            r for r in replay.contracts.current_allocations.values() if r.known_from > snapshot
        )
        writer.flush(uow.conn)
        bulk.load_registered(uow.conn, target, replay.contracts.registered)
        timeline_rows = _count(uow.conn, target)
        if replay.series.units:
            uow.conn.execute(
                insert(target.series),
                [
                    {"owner": k.owner, "kind": k.kind, "key": k.key, "unit": unit}
                    for k, unit in replay.series.units.items()
                ],
            )
        uow.conn.execute(
            update(projection_state)
            .where(projection_state.c.id == 1)
            .values(
                active=target.name,
                rebuilt_at=utcnow(),
                rebuilt_through=head_position,
                format=PROJECTION_FORMAT,
            )
        )
    if on_progress is not None:
        on_progress(head_position)
    return RebuildReport(head_position, target.name, timeline_rows[0], timeline_rows[1])


def _count(conn: Connection, target: ProjectionTables) -> tuple[int, int]:
    timeline = conn.execute(select(func.count()).select_from(target.timeline)).scalar_one()
    contracts = conn.execute(select(func.count()).select_from(target.contracts)).scalar_one()
    return timeline, contracts


@dataclass(frozen=True)
class CheckReport:
    events: int
    missing: list[str]
    unexpected: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected


_CHECKED: dict[str, tuple[str, ...]] = {
    "timeline": TIMELINE_COLUMNS,
    "contracts": ContractRow.__slots__,
    "allocations": AllocationRow.__slots__,
    "series": ("owner", "kind", "key", "unit"),
    "parties": PartyRow.__slots__,
    "facilities": FacilityRow.__slots__,
}
"""Every column a row holds but its surrogate id: readers use each of them (the tenant and
term columns for access checks and statuses), so a difference in any is a difference."""


def _key(kind: str, values: Iterable[Any]) -> str:
    return kind + " " + " ".join(map(str, values))


def check(ledger: Ledger, on_progress: Progress | None = None) -> CheckReport:
    """Replay every event into memory and compare with the active tables, row for row.

    The tables are read as stored, through the driver: on SQLite a timestamp is text, and
    another spelling of the same instant (which a reader's text comparison would order
    differently) is a difference too.
    """
    timeline: list[Row] = []
    contracts: list[ContractRow] = []
    allocations: list[AllocationRow] = []
    replay = Replay(ledger.registry, timeline.extend, contracts.extend, allocations.extend)
    with ledger.read(snapshot=True) as conn:
        active = projection_sets[conn.execute(select(projection_state.c.active)).scalar_one()]
        for record in _read(ledger, conn, 0):
            replay.feed((record,))
            if on_progress is not None and record.position % 1_000 == 0:
                on_progress(record.position)
        stored = Driver(conn).stamp

        def as_stored(kind: str, values: tuple[Any, ...]) -> str:
            return _key(kind, (stored(v) if isinstance(v, datetime) else v for v in values))

        expected: Counter[str] = Counter()
        expected.update(
            as_stored("timeline", timeline_values(r))
            for r in [*timeline, *replay.series.all_current()]
        )
        expected.update(
            as_stored("contracts", slot_values(r))
            for r in [*contracts, *replay.contracts.current.values()]
        )
        expected.update(
            as_stored("allocations", slot_values(r))
            for r in [*allocations, *replay.contracts.current_allocations.values()]
        )
        expected.update(
            _key("series", (k.owner, k.kind, k.key, u)) for k, u in replay.series.units.items()
        )
        expected.update(
            as_stored("parties" if isinstance(r, PartyRow) else "facilities", slot_values(r))
            for r in replay.contracts.registered
        )
        actual: Counter[str] = Counter()
        for kind, table in (
            ("timeline", active.timeline),
            ("contracts", active.contracts),
            ("allocations", active.allocations),
            ("series", active.series),
            ("parties", active.parties),
            ("facilities", active.facilities),
        ):
            columns = ", ".join(_CHECKED[kind])
            for row in conn.exec_driver_sql(f"SELECT {columns} FROM {table.name}"):
                actual[_key(kind, row)] += 1
    missing = sorted((expected - actual).elements())
    unexpected = sorted((actual - expected).elements())
    return CheckReport(replay.position, missing, unexpected)
