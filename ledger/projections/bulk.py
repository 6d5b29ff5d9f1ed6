"""Loading a rebuild's rows into the inactive table set, in bulk.

A rebuild writes every row a table set will hold, into tables no reader uses until the
flip. So it loads them the way a bulk load should be done:

- The set's secondary indexes are dropped first and built once over all rows at the end.
  Kept, every insert updated four timeline indexes in random key order: that made the
  inserts about twice as slow (measured on 316,000 rows of a 100,000-event ledger: 19.5 s
  with the indexes kept; 9.2 s to insert and 1.8 s to index without).
- Rows reach the driver as tuples (COPY on PostgreSQL, `executemany` on SQLite), not
  through SQLAlchemy's per-row parameter processing, which cost more than the insert.

An interrupted rebuild leaves the inactive set without its indexes; no reader uses it,
and the next rebuild (which `migrate` resumes when an upgrade's rebuild did not finish)
builds them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Index, Table

from ledger.projections.rows import AllocationRow, ContractRow, FacilityRow, PartyRow
from ledger.projections.series import Row
from ledger.sql.dialect import dialect_of
from ledger.tables import ProjectionTables

Loaded = ContractRow | AllocationRow | Row


def _loaded_tables(tables: ProjectionTables) -> tuple[Table, Table, Table]:
    """The tables a rebuild loads row by row (the series table is small; it is written
    through SQLAlchemy)."""
    return tables.timeline, tables.contracts, tables.allocations


def indexes(tables: ProjectionTables) -> list[Index]:
    return [index for table in _loaded_tables(tables) for index in table.indexes]


def empty(conn: Connection, tables: ProjectionTables) -> None:
    """Delete every row of the set and drop its secondary indexes."""
    all_tables = (*_loaded_tables(tables), tables.series, tables.parties, tables.facilities)
    dialect_of(conn).empty(conn, all_tables)
    for index in indexes(tables):
        index.drop(conn, checkfirst=True)


def timeline_values(row: Row) -> tuple[Any, ...]:
    series, interval = row.series, row.interval
    return (
        series.owner,
        series.kind,
        series.key,
        interval.valid_from,
        interval.valid_to,
        row.known_from,
        row.known_to,
        interval.value,
    )


def slot_values(row: ContractRow | AllocationRow | PartyRow | FacilityRow) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in row.__slots__)


TIMELINE_COLUMNS = (
    "owner",
    "kind",
    "key",
    "valid_from",
    "valid_to",
    "known_from",
    "known_to",
    "value",
)
"""The timeline's columns in the order of `timeline_values`."""

_COLUMNS: dict[str, tuple[str, ...]] = {
    "timeline": TIMELINE_COLUMNS,
    "contracts": ContractRow.__slots__,
    "allocations": AllocationRow.__slots__,
}


def load_registered(
    conn: Connection, tables: ProjectionTables, rows: Sequence[PartyRow | FacilityRow]
) -> None:
    """The directory's rows: one per registration, few beside the timeline's."""
    parties = [slot_values(r) for r in rows if isinstance(r, PartyRow)]
    facilities = [slot_values(r) for r in rows if isinstance(r, FacilityRow)]
    load = dialect_of(conn).load
    if parties:
        load(conn, tables.parties, PartyRow.__slots__, parties)
    if facilities:
        load(conn, tables.facilities, FacilityRow.__slots__, facilities)


class BulkWriter:
    """Writes rows of one table set through the driver of the connection it is given."""

    def __init__(self, tables: ProjectionTables) -> None:
        self.tables = tables

    def timeline(self, conn: Connection, rows: Sequence[Row]) -> None:
        self._load(conn, self.tables.timeline, _COLUMNS["timeline"], map(timeline_values, rows))

    def contracts(self, conn: Connection, rows: Sequence[ContractRow]) -> None:
        self._load(conn, self.tables.contracts, _COLUMNS["contracts"], map(slot_values, rows))

    def allocations(self, conn: Connection, rows: Sequence[AllocationRow]) -> None:
        self._load(conn, self.tables.allocations, _COLUMNS["allocations"], map(slot_values, rows))

    @staticmethod
    def _load(
        conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        dialect_of(conn).load(conn, table, columns, rows)
