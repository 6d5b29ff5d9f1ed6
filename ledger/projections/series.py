"""Bitemporal series: validity intervals over business time, versioned by position.

A row holds `value` over [valid_from, valid_to) as known from `known_from` until
`known_to`. Each series keeps its current rows (known_to = KNOWN_FOREVER) as maximal
intervals of equal, non-empty values, so the rows are a function of the series alone.
An event rewrites only the window it affects: current rows there that no longer hold are
closed at its position, and the new ones are inserted from it.

Two stores implement the same small interface: `SqlSeriesStore` (inline, in the append's
transaction) and `MemorySeriesStore` (rebuild and check, replaying into memory).
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from ledger.sql.driver import Driver, in_style
from ledger.tables import KNOWN_FOREVER, ProjectionTables


@dataclass(frozen=True, slots=True)
class SeriesKey:
    owner: str
    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Interval:
    valid_from: datetime
    valid_to: datetime
    value: str  # canonical JSON


@dataclass(frozen=True, slots=True)
class Row:
    series: SeriesKey
    interval: Interval
    known_from: int
    known_to: int = KNOWN_FOREVER


class SeriesStore(Protocol):
    def current(self, series: SeriesKey, start: datetime, end: datetime) -> list[Row]:
        """Current rows of `series` that overlap or touch [start, end], by valid_from."""
        ...

    def close(self, rows: Sequence[Row], position: int) -> None: ...

    def add(self, series: SeriesKey, intervals: Sequence[Interval], position: int) -> None: ...

    def register(self, series: SeriesKey, unit: str | None) -> None: ...


def rewrite(
    store: SeriesStore,
    series: SeriesKey,
    window: tuple[datetime, datetime],
    compute: Callable[[list[Row], datetime, datetime], list[Interval]],
    position: int,
) -> None:
    """Replace the current rows around `window` with `compute(old rows, span)`."""
    old = store.current(series, *window)
    start = min([window[0], *(r.interval.valid_from for r in old)])
    end = max([window[1], *(r.interval.valid_to for r in old)])
    new = compute(old, start, end)
    kept = {r.interval for r in old} & set(new)
    store.close([r for r in old if r.interval not in kept], position)
    store.add(series, [i for i in new if i not in kept], position)


@dataclass(frozen=True)
class _Statements:
    """The inline writer's statements for one table set (see ledger.sql.driver)."""

    current: str
    close: str  # + the ids' placeholders
    add: str
    unit: str
    register: str
    set_unit: str


@functools.cache
def _statements(tables: ProjectionTables, postgres: bool) -> _Statements:
    t, s = tables.timeline.name, tables.series.name

    def driver_sql(statement: str) -> str:
        return in_style(statement, postgres)

    series = "owner = ? AND kind = ? AND key = ?"
    return _Statements(
        current=driver_sql(
            f"SELECT id, valid_from, valid_to, value, known_from FROM {t} WHERE {series}"
            f" AND known_to = {KNOWN_FOREVER} AND valid_to >= ? AND valid_from <= ?"
            " ORDER BY valid_from"
        ),
        close=driver_sql(f"UPDATE {t} SET known_to = ? WHERE id IN "),
        add=driver_sql(
            f"INSERT INTO {t} (owner, kind, key, valid_from, valid_to, known_from, known_to,"
            " value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        unit=driver_sql(f"SELECT unit FROM {s} WHERE {series}"),
        register=driver_sql(f"INSERT INTO {s} (owner, kind, key, unit) VALUES (?, ?, ?, ?)"),
        set_unit=driver_sql(f"UPDATE {s} SET unit = ? WHERE {series}"),
    )


@functools.lru_cache(maxsize=256)
def _placeholders(count: int, postgres: bool) -> str:
    return in_style("(" + ", ".join("?" * count) + ")", postgres)


class SqlSeriesStore:
    def __init__(self, conn: Connection, tables: ProjectionTables) -> None:
        self.driver = Driver(conn)
        self.sql = _statements(tables, self.driver.postgres)
        self._registered: set[SeriesKey] = set()
        self._unit_reads: list[tuple[SeriesKey, str | None, Any]] = []

    def current(self, series: SeriesKey, start: datetime, end: datetime) -> list[Row]:
        driver = self.driver
        moment = driver.moment
        rows = driver.execute(
            self.sql.current,
            (series.owner, series.kind, series.key, driver.stamp(start), driver.stamp(end)),
        ).fetchall()
        self.settle()
        return [
            _SqlRow(
                series,
                Interval(moment(valid_from), moment(valid_to), value),
                known_from,
                KNOWN_FOREVER,
                row_id,
            )
            for row_id, valid_from, valid_to, value, known_from in rows
        ]

    def close(self, rows: Sequence[Row], position: int) -> None:
        ids = [r.row_id for r in rows if isinstance(r, _SqlRow)]
        if ids:
            self.driver.execute(
                self.sql.close + _placeholders(len(ids), self.driver.postgres), (position, *ids)
            )

    def add(self, series: SeriesKey, intervals: Sequence[Interval], position: int) -> None:
        if intervals:
            stamp = self.driver.stamp
            self.driver.executemany(
                self.sql.add,
                [
                    (
                        series.owner,
                        series.kind,
                        series.key,
                        stamp(i.valid_from),
                        stamp(i.valid_to),
                        position,
                        KNOWN_FOREVER,
                        i.value,
                    )
                    for i in intervals
                ],
            )

    def register(self, series: SeriesKey, unit: str | None) -> None:
        if series in self._registered:
            return
        self._registered.add(series)
        names = (series.owner, series.kind, series.key)
        self._unit_reads.append((series, unit, self.driver.execute(self.sql.unit, names)))
        # Pipelined (PostgreSQL, see EntitlementProjection.apply), the answer is read with
        # the series' current rows, which follow: one round trip for both.
        if not self.driver.pipelined():
            self.settle()

    def settle(self) -> None:
        """Write the registrations whose unit reads have been sent."""
        for series, unit, cursor in self._unit_reads:
            names = (series.owner, series.kind, series.key)
            found = cursor.fetchone()
            if found is None:
                self.driver.execute(self.sql.register, (*names, unit))
            elif found[0] is None and unit is not None:
                self.driver.execute(self.sql.set_unit, (unit, *names))
        self._unit_reads.clear()


@dataclass(frozen=True, slots=True)
class _SqlRow(Row):
    row_id: int = 0


def _valid_from(row: Row) -> datetime:
    return row.interval.valid_from


@dataclass
class MemorySeriesStore:
    """Current rows in memory; closed rows handed to `on_closed` (flushed by the caller).

    A series' current rows are disjoint and kept sorted by valid_from (so also by
    valid_to): the rows around a window are found by bisection, not by a scan of the
    series, whose length grows with its history.
    """

    on_closed: Callable[[list[Row]], None]
    current_rows: dict[SeriesKey, list[Row]] = field(default_factory=dict)
    units: dict[SeriesKey, str | None] = field(default_factory=dict)

    def current(self, series: SeriesKey, start: datetime, end: datetime) -> list[Row]:
        rows = self.current_rows.get(series)
        if not rows:
            return []
        stop = bisect_right(rows, end, key=_valid_from)
        first = stop
        while first > 0 and rows[first - 1].interval.valid_to >= start:
            first -= 1
        return rows[first:stop]

    def close(self, rows: Sequence[Row], position: int) -> None:
        if not rows:
            return
        series = rows[0].series
        current = self.current_rows[series]
        for row in rows:
            index = bisect_left(current, row.interval.valid_from, key=_valid_from)
            if index == len(current) or current[index].interval != row.interval:
                raise LookupError(f"{series}: no current row {row.interval} to close")
            del current[index]
        self.on_closed([Row(r.series, r.interval, r.known_from, position) for r in rows])

    def add(self, series: SeriesKey, intervals: Sequence[Interval], position: int) -> None:
        if intervals:
            rows = self.current_rows.setdefault(series, [])
            for interval in intervals:
                insort(rows, Row(series, interval, position), key=_valid_from)

    def register(self, series: SeriesKey, unit: str | None) -> None:
        if self.units.get(series) is None:
            self.units[series] = unit

    def all_current(self) -> Iterable[Row]:
        for rows in self.current_rows.values():
            yield from rows
