"""The projection's rows other than the timeline's: contracts, their allocations, and the
directory of parties and facilities.

A contract row and an allocation row are bitemporal (`known_from`/`known_to`): a change
closes the current row and inserts the next. A party or facility row is written once, at
its registration, and never changes: what changes later (limits, capacity, books) lives in
the timeline. The projector hands rows to a `RowStore`: SQL inline, memory in rebuilds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from ledger.canonical import format_decimal
from ledger.domain.contract import Allocation, Contract
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.projections.documents import allocation_document, to_document
from ledger.sql.driver import Driver, in_style
from ledger.tables import KNOWN_FOREVER, ProjectionTables


@dataclass(frozen=True, slots=True)
class ContractRow:
    contract_id: str
    known_from: int
    known_to: int
    tenant: str
    provider: str
    facility: str
    lifecycle: str
    term_start: datetime
    term_end: datetime
    terminated_at: datetime | None
    document: str


@dataclass(frozen=True, slots=True)
class AllocationRow:
    contract_id: str
    allocation_id: str
    known_from: int
    known_to: int
    version: int
    document: str
    tenant: str
    workload: str
    resource: str
    first_quantity: str
    starts_at: datetime
    ends_at: datetime | None


@dataclass(frozen=True, slots=True)
class PartyRow:
    party_id: str
    name: str
    roles: str
    position: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class FacilityRow:
    facility_id: str
    provider: str
    name: str
    location: str
    position: int
    recorded_at: datetime


class RowStore(Protocol):
    def put(self, state: Contract, position: int) -> None:
        """The contract's own state changed at `position`."""
        ...

    def put_allocation(self, state: Contract, allocation: Allocation, position: int) -> None:
        """One allocation of the contract changed at `position`, and nothing else did."""
        ...

    def put_registered(self, row: PartyRow | FacilityRow) -> None:
        """A party or facility was registered."""
        ...


def contract_row(state: Contract, position: int) -> ContractRow:
    return ContractRow(
        state.contract_id,
        position,
        KNOWN_FOREVER,
        state.tenant,
        state.provider,
        state.facility,
        state.lifecycle,
        state.term_start,
        state.schedule().end,
        state.terminated_at,
        to_document(state),
    )


def allocation_row(state: Contract, allocation: Allocation, position: int) -> AllocationRow:
    return AllocationRow(
        state.contract_id,
        allocation.allocation_id,
        position,
        KNOWN_FOREVER,
        state.version,
        allocation_document(allocation),
        state.tenant,
        allocation.workload,
        allocation.resource,
        format_decimal(allocation.changes[0].quantity),
        allocation.start,
        allocation.ends_at,
    )


def party_row(party: Party, position: int, recorded_at: datetime) -> PartyRow:
    return PartyRow(party.party_id, party.name, ", ".join(party.roles), position, recorded_at)


def facility_row(facility: Facility, position: int, recorded_at: datetime) -> FacilityRow:
    return FacilityRow(
        facility.facility_id,
        facility.provider,
        facility.name,
        facility.location,
        position,
        recorded_at,
    )


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


@dataclass(frozen=True)
class _Statements:
    close: str
    insert: str
    close_allocation: str
    insert_allocation: str
    insert_party: str
    insert_facility: str


@functools.cache
def _statements(tables: ProjectionTables, postgres: bool) -> _Statements:
    t, a = tables.contracts.name, tables.allocations.name
    current = f"known_to = {KNOWN_FOREVER}"
    return _Statements(
        *(
            in_style(statement, postgres)
            for statement in (
                f"UPDATE {t} SET known_to = ? WHERE contract_id = ? AND {current}",
                _insert(t, ContractRow.__slots__),
                f"UPDATE {a} SET known_to = ? WHERE contract_id = ? AND allocation_id = ?"
                f" AND {current}",
                _insert(a, AllocationRow.__slots__),
                _insert(tables.parties.name, PartyRow.__slots__),
                _insert(tables.facilities.name, FacilityRow.__slots__),
            )
        )
    )


class SqlRowStore:
    """Inline: each row written through the driver, inside the append's transaction."""

    def __init__(self, conn: Connection, tables: ProjectionTables) -> None:
        self.driver = Driver(conn)
        self.statements = _statements(tables, self.driver.postgres)

    def put(self, state: Contract, position: int) -> None:
        driver = self.driver
        driver.execute(self.statements.close, (position, state.contract_id))
        driver.execute(self.statements.insert, self._stamped(contract_row(state, position)))

    def put_allocation(self, state: Contract, allocation: Allocation, position: int) -> None:
        driver = self.driver
        driver.execute(
            self.statements.close_allocation,
            (position, state.contract_id, allocation.allocation_id),
        )
        row = allocation_row(state, allocation, position)
        driver.execute(self.statements.insert_allocation, self._stamped(row))

    def put_registered(self, row: PartyRow | FacilityRow) -> None:
        statement = (
            self.statements.insert_party
            if isinstance(row, PartyRow)
            else self.statements.insert_facility
        )
        self.driver.execute(statement, self._stamped(row))

    def _stamped(
        self, row: ContractRow | AllocationRow | PartyRow | FacilityRow
    ) -> tuple[object, ...]:
        stamp = self.driver.stamp
        return tuple(
            stamp(value) if isinstance(value, datetime) else value
            for value in (getattr(row, name) for name in row.__slots__)
        )
