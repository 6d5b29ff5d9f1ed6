"""The facility aggregate (stream `facility-{id}`): capacity in service and reservations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ledger.domain.capacity import CapacitySchedule, DatedChange
from ledger.domain.contract import quantities
from ledger.domain.events import (
    CapacityReservationChanged,
    CapacityReservationReleased,
    CapacityReserved,
    FacilityCapacityChanged,
    FacilityRegistered,
)
from ledger.domain.frozen import evolved
from ledger.events import Event
from ledger.timeline import Steps


def stream_id(facility_id: str) -> str:
    return f"facility-{facility_id}"


@dataclass(frozen=True)
class Reservation:
    contract_id: str
    tenant: str
    schedule: CapacitySchedule


@dataclass(frozen=True)
class Facility:
    facility_id: str
    provider: str
    name: str
    location: str
    registered_at: datetime
    capacity_changes: tuple[DatedChange, ...]
    reservations: tuple[Reservation, ...] = ()
    units: dict[str, str] = field(default_factory=dict)
    version: int = 0

    @property
    def stream_id(self) -> str:
        return stream_id(self.facility_id)

    def resources(self) -> set[str]:
        names: set[str] = set()
        for change in self.capacity_changes:
            names |= set(change.quantities)
        for reservation in self.reservations:
            names |= reservation.schedule.resources()
        return names

    def capacity(self, resource: str) -> Steps:
        """In service from registration; each change sets the resources it names."""
        ordered = sorted(
            (c for c in self.capacity_changes if resource in c.quantities),
            key=lambda c: (c.effective_at, c.position),
        )
        return Steps.from_changes(
            (c.effective_at, {"capacity": q} if (q := c.quantities[resource]) else {})
            for c in ordered
        )

    def reserved(self, resource: str, *, excluding: str | None = None) -> Steps:
        result = Steps()
        for reservation in self.reservations:
            if reservation.contract_id != excluding:
                result = result + reservation.schedule.quantity(
                    resource, f"r:{reservation.contract_id}"
                )
        return result

    def contribution(self, resource: str) -> Steps:
        return self.capacity(resource) + self.reserved(resource)

    @staticmethod
    def reservation_contribution(reservation: Reservation | None, resource: str) -> Steps:
        """The part of `contribution(resource)` that one reservation makes."""
        if reservation is None:
            return Steps()
        return reservation.schedule.quantity(resource, f"r:{reservation.contract_id}")

    def reservation(self, contract_id: str) -> Reservation | None:
        return next((r for r in self.reservations if r.contract_id == contract_id), None)

    def apply(self, event: Event, effective_at: datetime, position: int) -> Facility:
        return evolved(self._apply(event, effective_at, position), version=self.version + 1)

    def _apply(self, event: Event, effective_at: datetime, position: int) -> Facility:
        match event:
            case FacilityCapacityChanged():
                change = DatedChange(effective_at, position, quantities(event.capacity))
                units = {**self.units, **{line.resource: line.unit for line in event.capacity}}
                return evolved(self, capacity_changes=(*self.capacity_changes, change), units=units)
            case CapacityReserved():
                schedule = CapacitySchedule(
                    start=event.term.start,
                    draft_end=event.term.end,
                    base=quantities(event.capacity),
                )
                reservation = Reservation(event.contract_id, event.tenant, schedule)
                units = {**{line.resource: line.unit for line in event.capacity}, **self.units}
                return evolved(self, reservations=(*self.reservations, reservation), units=units)
            case CapacityReservationChanged():
                change = DatedChange(
                    effective_at, position, quantities(event.capacity), event.term_end
                )
                return self._change(event.contract_id, lambda s: s.amended(change))
            case CapacityReservationReleased():
                return self._change(event.contract_id, lambda s: evolved(s, cut_at=effective_at))
        raise TypeError(f"{event.event_type} does not belong to a facility stream")

    def _change(self, contract_id: str, change) -> Facility:  # type: ignore[no-untyped-def]
        return evolved(
            self,
            reservations=tuple(
                evolved(r, schedule=change(r.schedule)) if r.contract_id == contract_id else r
                for r in self.reservations
            ),
        )


def registered(event: FacilityRegistered, effective_at: datetime, position: int) -> Facility:
    return Facility(
        facility_id=event.facility_id,
        provider=event.provider,
        name=event.name,
        location=event.location,
        registered_at=effective_at,
        capacity_changes=(DatedChange(effective_at, position, quantities(event.capacity)),),
        units={line.resource: line.unit for line in event.capacity},
        version=1,
    )
