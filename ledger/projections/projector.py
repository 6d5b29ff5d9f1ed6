"""The entitlement projection: one fold of events into series and contract rows.

Per event, the aggregate it belongs to is taken before and after the event. Its
contribution to each series it feeds (a tenant's capacity per resource, a facility's
capacity and reservations per resource) changes by after - before, and only over the
business-time window where that difference is non-empty; limits are recomputed from the
party's state from the change's effective_at on. The same code runs inline (SQL stores,
inside the append's transaction) and in rebuilds and checks (memory stores), which is
what makes a rebuild reproduce the inline tables exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

import orjson
from sqlalchemy import Connection

from ledger.canonical import canonical_json, format_decimal
from ledger.domain.aggregates import Aggregate, evolve, fold
from ledger.domain.contract import Contract
from ledger.domain.events import (
    AllocationReleased,
    AllocationResized,
    CapacityAllocated,
    CapacityReservationChanged,
    CapacityReservationReleased,
    CapacityReserved,
    FacilityRegistered,
    LimitChanged,
    PartyRegistered,
)
from ledger.domain.facility import Facility
from ledger.domain.party import LimitEntry, Party
from ledger.errors import ProjectionsStale
from ledger.events import Event, EventRegistry, RecordedEvent
from ledger.projections.rows import RowStore, SqlRowStore, facility_row, party_row
from ledger.projections.series import Interval, Row, SeriesKey, SeriesStore, SqlSeriesStore, rewrite
from ledger.sql.driver import driver_connection, pipelined
from ledger.store import EventStore
from ledger.tables import (
    PROJECTIONS_INCOMPLETE,
    ProjectionTables,
    projection_sets,
    projection_state,
)
from ledger.timeline import EMPTY, END_OF_TIME, Steps, Vec
from ledger.unit_of_work import Folded

CAPACITY = "capacity"  # owner: tenant; key: resource; value: {"c:<contract>": q, "w:<workload>": q}
FACILITY = "facility"  # owner: facility; key: resource; value: {"capacity": q, "r:<contract>": q}
LIMIT = "limit"  # owner: tenant; key: "<plan>/<limit>"; value: the limit in force
ALLOCATION_EVENTS = (CapacityAllocated, AllocationResized, AllocationReleased)
"""Contract events that change one allocation and nothing else of the contract."""
RESERVATION_EVENTS = (CapacityReserved, CapacityReservationChanged, CapacityReservationReleased)
"""Facility events that change one contract's reservation and nothing else."""


def vec_json(value: dict[str, Decimal] | object) -> str:
    if isinstance(value, dict) and all(
        isinstance(q, Decimal) and k.isascii() for k, q in value.items()
    ):
        # The common shape, {label: quantity}: JCS is orjson's sorted output once every key
        # is ASCII, so only the quantities need normalising (see ledger.canonical).
        normalised = {k: _decimal_text(q) for k, q in value.items()}
        return orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS).decode()
    return canonical_json(value).decode()


# A ledger's quantities and series values repeat: a resize touches rows whose values were
# rendered, and parsed back, many times before. (Projection quantities are validated
# finite decimals, so caching by value is exact: equal decimals render alike.)
_decimal_text = functools.lru_cache(maxsize=1 << 16)(format_decimal)


@functools.lru_cache(maxsize=1 << 16)
def _parse_vec(value: str) -> dict[str, Decimal]:
    """A row's value as a vector; shared between callers, so never mutated (see `vec_add`)."""
    return {k: Decimal(v) for k, v in orjson.loads(value).items()}


def limit_key(plan: str, limit: str) -> str:
    return f"{plan}/{limit}"


Compute = Callable[[list[Row], datetime, datetime], list[Interval]]


def _additive(delta: Steps) -> Compute:
    """The window's new rows: what the rows held, plus the change."""

    def compute(old: list[Row], start: datetime, end: datetime) -> list[Interval]:
        # The rows are a series' current rows: disjoint, in order, each a maximal interval
        # of a non-empty value, so their points are canonical as they come.
        points: list[tuple[datetime, Vec]] = []
        rendered: dict[tuple[datetime, datetime], tuple[Vec, str]] = {}
        for row in old:
            interval = row.interval
            value = _parse_vec(interval.value)
            if points and points[-1][0] == interval.valid_from:
                points.pop()
            points.append((interval.valid_from, value))
            points.append((interval.valid_to, EMPTY))
            rendered[interval.valid_from, interval.valid_to] = (value, interval.value)
        result = []
        for segment in (Steps(tuple(points)) + delta).segments():
            # A segment the change left as it was keeps its row's text.
            known = rendered.get((segment.valid_from, segment.valid_to))
            text = (
                known[1]
                if known is not None and known[0] == segment.value
                else vec_json(dict(segment.value))
            )
            result.append(Interval(segment.valid_from, segment.valid_to, text))
        return result

    return compute


def project_event(
    record: RecordedEvent,
    event: Event,
    before: Aggregate | None,
    after: Aggregate,
    series: SeriesStore,
    contracts: RowStore,
) -> None:
    position = record.position
    if isinstance(event, PartyRegistered) and isinstance(after, Party):
        contracts.put_registered(party_row(after, position, record.recorded_at))
    elif isinstance(event, FacilityRegistered) and isinstance(after, Facility):
        contracts.put_registered(facility_row(after, position, record.recorded_at))
    if (
        isinstance(after, Contract)
        and isinstance(before, Contract)
        and isinstance(event, ALLOCATION_EVENTS)
    ):
        # One allocation changed and nothing else did: its own contribution is the delta.
        # Recomputing the whole contract's would cost the contract's history on every event.
        allocation = after.allocation(event.allocation_id)
        assert allocation is not None
        delta = after.allocation_contribution(allocation) - before.allocation_contribution(
            before.allocation(event.allocation_id)
        )
        _apply_delta(
            series,
            SeriesKey(after.tenant, CAPACITY, allocation.resource),
            delta,
            after.units.get(allocation.resource),
            position,
        )
        contracts.put_allocation(after, allocation, position)
    elif isinstance(after, Contract):
        old = before if isinstance(before, Contract) else None
        if old is not None and not _same_parts(old.allocations, after.allocations):
            # Allocation rows are written by the branch above only.
            raise TypeError(f"{record.type} changed allocations outside ALLOCATION_EVENTS")
        resources = after.resources() | (old.resources() if old else set())
        for resource in sorted(resources):
            delta = after.contribution(resource) - (old.contribution(resource) if old else Steps())
            _apply_delta(
                series,
                SeriesKey(after.tenant, CAPACITY, resource),
                delta,
                after.units.get(resource),
                position,
            )
        contracts.put(after, position)
    elif (
        isinstance(after, Facility)
        and isinstance(before, Facility)
        and isinstance(event, RESERVATION_EVENTS)
    ):
        # Likewise: one reservation changed, the facility's capacity did not.
        old_reservation = before.reservation(event.contract_id)
        new_reservation = after.reservation(event.contract_id)
        resources = set()
        for reservation in (old_reservation, new_reservation):
            if reservation is not None:
                resources |= reservation.schedule.resources()
        for resource in sorted(resources):
            _apply_delta(
                series,
                SeriesKey(after.facility_id, FACILITY, resource),
                Facility.reservation_contribution(new_reservation, resource)
                - Facility.reservation_contribution(old_reservation, resource),
                after.units.get(resource),
                position,
            )
    elif isinstance(after, Facility):
        old_facility = before if isinstance(before, Facility) else None
        resources = after.resources() | (old_facility.resources() if old_facility else set())
        for resource in sorted(resources):
            delta = after.contribution(resource) - (
                old_facility.contribution(resource) if old_facility else Steps()
            )
            _apply_delta(
                series,
                SeriesKey(after.facility_id, FACILITY, resource),
                delta,
                after.units.get(resource),
                position,
            )
    elif isinstance(after, Party) and isinstance(event, LimitChanged):
        key = SeriesKey(after.party_id, LIMIT, limit_key(event.plan, event.limit))
        series.register(key, None)
        party, plan, limit = after, event.plan, event.limit

        def limits(old: list[Row], start: datetime, end: datetime) -> list[Interval]:
            return [
                Interval(s.valid_from, s.valid_to, limit_json(s.entry))
                for s in party.limit_segments(plan, limit, since=start)
            ]

        rewrite(series, key, (record.effective_at, END_OF_TIME), limits, position)


def _same_parts(old: tuple[object, ...], new: tuple[object, ...]) -> bool:
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def limit_json(entry: LimitEntry) -> str:
    return vec_json(
        {
            "value": entry.value,
            "unlimited": entry.unlimited,
            "effective_since": entry.effective_at,
            "until": entry.until,
            "operation": entry.operation,
            "factor": entry.factor,
        }
    )


def _apply_delta(
    store: SeriesStore, key: SeriesKey, delta: Steps, unit: str | None, position: int
) -> None:
    window = delta.support()
    if window is None:
        return
    store.register(key, unit)
    rewrite(store, key, window, _additive(delta), position)


# -- inline ---------------------------------------------------------------------------------


def active_tables(conn: Connection) -> ProjectionTables:
    """The table set readers and the inline projection use (a rebuild flips it)."""
    statement = f"SELECT active, format FROM {projection_state.name} WHERE id = 1"
    active, format = driver_connection(conn).execute(statement).fetchone()
    if format == PROJECTIONS_INCOMPLETE:
        raise ProjectionsStale()
    return projection_sets[active]


class StreamStates:
    """Inline: an aggregate before an event is folded from its stream (cached per batch)."""

    def __init__(self, conn: Connection, registry: EventRegistry, folded: Folded) -> None:
        self.conn = conn
        self.registry = registry
        # The command's own folds are current at their versions: the version check in
        # `before` decides whether one is the state just before an event.
        self.cache: dict[str, tuple[int, Aggregate]] = {
            stream: (version, cast(Aggregate, state)) for stream, (version, state) in folded.items()
        }

    def before(self, record: RecordedEvent) -> Aggregate | None:
        cached = self.cache.get(record.stream_id)
        if cached is not None and cached[0] == record.stream_version - 1:
            return cached[1]
        if record.stream_version == 1:
            return None
        history = EventStore(self.registry).read_stream(
            self.conn, record.stream_id, record.stream_version - 1
        )
        return fold(history, self.registry)

    def remember(self, record: RecordedEvent, state: Aggregate) -> None:
        self.cache[record.stream_id] = (record.stream_version, state)


@dataclass
class EntitlementProjection:
    """The inline projection (see `ledger.unit_of_work.Projection`)."""

    registry: EventRegistry

    def apply(
        self,
        conn: Connection,
        events: Sequence[RecordedEvent],
        folded: Folded,
        decoded: Sequence[Event],
    ) -> None:
        tables = active_tables(conn)
        series = SqlSeriesStore(conn, tables)
        contracts = SqlRowStore(conn, tables)
        states = StreamStates(conn, self.registry, folded)
        with pipelined(conn):  # its writes need no answer: one round trip for them all
            for record, event in zip(events, decoded, strict=True):
                if record.type not in self.registry:
                    continue
                before = states.before(record)
                after = evolve(before, event, record)
                states.remember(record, after)
                project_event(record, event, before, after, series, contracts)
            series.settle()
