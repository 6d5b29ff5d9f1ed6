"""A contract's capacity over business time, shared by the contract and its facility.

In force over [start, end), cut short by a termination. Per resource, the quantity at t
is that of the latest amendment naming the resource with effective_at <= t (ties broken by
position), else the signed draft's; an amendment leaves the resources it does not name
alone. The term's end is the latest amendment's (by effective_at, then position) that
names one, else the draft's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ledger.domain.frozen import evolved
from ledger.timeline import Steps


@dataclass(frozen=True, slots=True)
class DatedChange:
    effective_at: datetime
    position: int
    quantities: Mapping[str, Decimal]
    term_end: datetime | None = None


@dataclass(frozen=True)
class CapacitySchedule:
    start: datetime
    draft_end: datetime
    base: Mapping[str, Decimal]
    amendments: tuple[DatedChange, ...] = ()
    cut_at: datetime | None = None

    @functools.cached_property
    def end(self) -> datetime:
        dated = sorted(
            (a for a in self.amendments if a.term_end is not None),
            key=lambda a: (a.effective_at, a.position),
        )
        return dated[-1].term_end if dated and dated[-1].term_end else self.draft_end

    @functools.cached_property
    def end_in_force(self) -> datetime:
        """Where the contract stops contributing: its end, or its termination if earlier."""
        end = self.end
        if self.cut_at is not None and self.cut_at < end:
            return max(self.cut_at, self.start)
        return end

    def resources(self) -> set[str]:
        names = set(self.base)
        for amendment in self.amendments:
            names |= set(amendment.quantities)
        return names

    def amended(self, change: DatedChange) -> CapacitySchedule:
        return evolved(self, amendments=(*self.amendments, change))

    def quantity(self, resource: str, label: str) -> Steps:
        start, end = self.start, self.end_in_force
        if start >= end:
            return Steps()
        ordered = sorted(
            (a for a in self.amendments if resource in a.quantities),
            key=lambda a: (a.effective_at, a.position),
        )
        at_start = self.base.get(resource, Decimal(0))
        changes: list[tuple[datetime, dict[str, Decimal]]] = []
        for amendment in ordered:
            quantity = amendment.quantities[resource]
            if amendment.effective_at <= start:
                at_start = quantity
            elif amendment.effective_at < end:
                changes.append((amendment.effective_at, {label: quantity} if quantity else {}))
        points = [(start, {label: at_start} if at_start else {}), *changes, (end, {})]
        return Steps.from_changes(points)
