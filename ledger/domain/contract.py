"""The contract aggregate (stream `contract-{id}`): its state, and how events evolve it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from ledger.domain.capacity import CapacitySchedule, DatedChange
from ledger.domain.events import (
    AllocationReleased,
    AllocationResized,
    CapacityAllocated,
    CapacityLine,
    ContractAmended,
    ContractDrafted,
    ContractDraftRevised,
    ContractSigned,
    ContractTerminated,
    ContractVoided,
)
from ledger.domain.frozen import evolved
from ledger.events import Event
from ledger.timeline import Steps

Lifecycle = Literal["draft", "voided", "signed", "terminated"]
Status = Literal["draft", "voided", "signed", "active", "expired", "terminated"]


def stream_id(contract_id: str) -> str:
    return f"contract-{contract_id}"


def quantities(lines: tuple[CapacityLine, ...]) -> dict[str, Decimal]:
    return {line.resource: line.quantity for line in lines}


@dataclass(frozen=True, slots=True)
class AllocationChange:
    effective_at: datetime
    position: int
    quantity: Decimal
    released: bool = False


@dataclass(frozen=True)
class Allocation:
    allocation_id: str
    workload: str
    resource: str
    until: datetime | None
    changes: tuple[AllocationChange, ...]
    released: bool = False

    @property
    def start(self) -> datetime:
        return self.changes[0].effective_at

    @property
    def released_at(self) -> datetime | None:
        """A release is final: it ends the allocation, whatever was scheduled after it."""
        releases = [c.effective_at for c in self.changes if c.released]
        return min(releases) if releases else None

    @property
    def ends_at(self) -> datetime | None:
        ends = [t for t in (self.until, self.released_at) if t is not None]
        return min(ends) if ends else None

    def quantity_at(self, moment: datetime) -> Decimal:
        end = self.ends_at
        if end is not None and moment >= end:
            return Decimal(0)
        in_force = [c for c in self.changes if c.effective_at <= moment and not c.released]
        if not in_force:
            return Decimal(0)
        return max(in_force, key=lambda c: (c.effective_at, c.position)).quantity

    def steps(self, label: str) -> Steps:
        memo = self.__dict__.setdefault("_steps_memo", {})
        found: Steps | None = memo.get(label)
        if found is None:
            found = memo[label] = self._steps(label)
        return found

    def clipped(self, label: str, start: datetime, end: datetime) -> Steps:
        """`steps(label).clip(start, end)`, remembered: an allocation's contribution is asked
        for again by the next event that changes it, as the "before" of a difference."""
        memo = self.__dict__.setdefault("_clipped_memo", {})
        key = (label, start, end)
        found: Steps | None = memo.get(key)
        if found is None:
            found = memo[key] = self.steps(label).clip(start, end)
        return found

    def _steps(self, label: str) -> Steps:
        ordered = sorted(
            (c for c in self.changes if not c.released), key=lambda c: (c.effective_at, c.position)
        )
        points: list[tuple[datetime, dict[str, Decimal]]] = [
            (c.effective_at, {label: c.quantity} if c.quantity else {}) for c in ordered
        ]
        end = self.ends_at
        if end is not None:
            points = [p for p in points if p[0] < end] + [(end, {})]
        return Steps.from_changes(points)


@dataclass(frozen=True)
class Contract:
    contract_id: str
    provider: str
    tenant: str
    facility: str
    title: str
    reference: str | None
    term_start: datetime
    term_end: datetime
    capacity: tuple[CapacityLine, ...]
    commercial_terms: dict[str, str] | None = None
    lifecycle: Lifecycle = "draft"
    signed_at: datetime | None = None
    signed_by: tuple[str, ...] = ()
    voided_at: datetime | None = None
    terminated_at: datetime | None = None
    amendments: tuple[tuple[str, DatedChange], ...] = ()
    allocations: tuple[Allocation, ...] = ()
    version: int = 0
    units: dict[str, str] = field(default_factory=dict)

    @property
    def stream_id(self) -> str:
        return stream_id(self.contract_id)

    @property
    def in_force(self) -> bool:
        """Signed (terminated contracts still count over the span before termination)."""
        return self.lifecycle in ("signed", "terminated")

    def schedule(self) -> CapacitySchedule:
        return self._schedule

    @functools.cached_property
    def _schedule(self) -> CapacitySchedule:
        return CapacitySchedule(
            start=self.term_start,
            draft_end=self.term_end,
            base=quantities(self.capacity),
            amendments=tuple(change for _, change in self.amendments),
            cut_at=self.terminated_at,
        )

    def resources(self) -> set[str]:
        return self.schedule().resources() | {a.resource for a in self.allocations}

    def contracted(self, resource: str) -> Steps:
        if not self.in_force:
            return Steps()
        return self.schedule().quantity(resource, f"c:{self.contract_id}")

    def allocated(self, resource: str, *, by_workload: bool = True) -> Steps:
        """Allocations live inside the contract: they count only while it is in force."""
        if not self.in_force:
            return Steps()
        schedule = self.schedule()
        result = Steps()
        for allocation in self.allocations:
            if allocation.resource == resource:
                label = f"w:{allocation.workload}" if by_workload else "allocated"
                result = result + allocation.steps(label)
        return result.clip(schedule.start, schedule.end_in_force)

    def contribution(self, resource: str) -> Steps:
        """What this contract adds to its tenant's entitlement series for `resource`."""
        return self.contracted(resource) + self.allocated(resource)

    def allocation_contribution(self, allocation: Allocation | None) -> Steps:
        """The part of `contribution(allocation.resource)` that one allocation makes."""
        if allocation is None or not self.in_force:
            return Steps()
        schedule = self.schedule()
        return allocation.clipped(f"w:{allocation.workload}", schedule.start, schedule.end_in_force)

    def allocation(self, allocation_id: str) -> Allocation | None:
        return next((a for a in self.allocations if a.allocation_id == allocation_id), None)

    def status_at(self, as_of: datetime) -> Status:
        schedule = self.schedule()
        return status_at(self.lifecycle, schedule.start, schedule.end, self.terminated_at, as_of)

    def term_instant(self, as_of: datetime) -> datetime:
        """`as_of`, moved into the term in force if it falls outside it: the instant whose
        quantities describe the contract at `as_of`. A draft, or a lease not yet begun,
        shows the quantities it starts with; one that ended, those it ended with."""
        schedule = self.schedule()
        if as_of < schedule.start:
            return schedule.start
        if as_of >= schedule.end_in_force:
            return max(schedule.start, schedule.end_in_force - timedelta(microseconds=1))
        return as_of

    def capacity_at(self, as_of: datetime) -> dict[str, Decimal]:
        schedule = self.schedule()
        result = {}
        for resource in sorted(schedule.resources()):
            value = schedule.quantity(resource, "q").value_at(as_of).get("q", Decimal(0))
            result[resource] = value
        return result

    # -- evolve ----------------------------------------------------------------------------

    def apply(self, event: Event, effective_at: datetime, position: int) -> Contract:
        state = self._apply(event, effective_at, position)
        return evolved(state, version=self.version + 1)

    def _apply(self, event: Event, effective_at: datetime, position: int) -> Contract:
        match event:
            case ContractDraftRevised():
                plain = {"provider", "tenant", "facility", "title", "reference", "commercial_terms"}
                changes = {
                    k: v for k, v in event.model_dump().items() if v is not None and k in plain
                }
                revised = evolved(self, **changes, **dict.fromkeys(event.cleared))
                if event.term is not None:
                    revised = evolved(revised, term_start=event.term.start, term_end=event.term.end)
                if event.capacity is not None:
                    revised = evolved(
                        revised, capacity=event.capacity, units=_units(event.capacity)
                    )
                return revised
            case ContractVoided():
                return evolved(self, lifecycle="voided", voided_at=effective_at)
            case ContractSigned():
                return evolved(
                    self, lifecycle="signed", signed_at=effective_at, signed_by=event.signed_by
                )
            case ContractAmended():
                change = DatedChange(
                    effective_at, position, quantities(event.capacity), event.term_end
                )
                return evolved(
                    self,
                    amendments=(*self.amendments, (event.amendment_id, change)),
                    units={**self.units, **_units(event.capacity)},
                )
            case ContractTerminated():
                return evolved(self, lifecycle="terminated", terminated_at=effective_at)
            case CapacityAllocated():
                allocation = Allocation(
                    allocation_id=event.allocation_id,
                    workload=event.workload,
                    resource=event.resource,
                    until=event.until,
                    changes=(AllocationChange(effective_at, position, event.quantity),),
                )
                return evolved(self, allocations=(*self.allocations, allocation))
            case AllocationResized():
                return self._change_allocation(
                    event.allocation_id, AllocationChange(effective_at, position, event.quantity)
                )
            case AllocationReleased():
                return self._change_allocation(
                    event.allocation_id,
                    AllocationChange(effective_at, position, Decimal(0), released=True),
                    released=True,
                )
        raise TypeError(f"{event.event_type} does not belong to a contract stream")

    def _change_allocation(
        self, allocation_id: str, change: AllocationChange, released: bool = False
    ) -> Contract:
        allocations = tuple(
            evolved(a, changes=(*a.changes, change), released=a.released or released)
            if a.allocation_id == allocation_id
            else a
            for a in self.allocations
        )
        return evolved(self, allocations=allocations)


ACTIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"revise", "void", "sign"}),
    "signed": frozenset({"amend", "terminate", "allocate", "resize", "release"}),
}
"""Invariant 2: what a contract in each lifecycle state may undergo (nothing otherwise)."""


def status_at(
    lifecycle: Lifecycle,
    term_start: datetime,
    term_end: datetime,
    terminated_at: datetime | None,
    as_of: datetime,
) -> Status:
    """A contract's status judged at `as_of`. Once signed it holds over its whole term,
    whenever the signature was given (signing does not move the term)."""
    if lifecycle in ("draft", "voided"):
        return lifecycle
    if terminated_at is not None and as_of >= terminated_at:
        return "terminated"
    if as_of < term_start:
        return "signed"
    return "active" if as_of < term_end else "expired"


def _units(lines: tuple[CapacityLine, ...]) -> dict[str, str]:
    return {line.resource: line.unit for line in lines}


def drafted(event: ContractDrafted) -> Contract:
    return Contract(
        contract_id=event.contract_id,
        provider=event.provider,
        tenant=event.tenant,
        facility=event.facility,
        title=event.title,
        reference=event.reference,
        term_start=event.term.start,
        term_end=event.term.end,
        capacity=event.capacity,
        commercial_terms=event.commercial_terms,
        version=1,
        units=_units(event.capacity),
    )
