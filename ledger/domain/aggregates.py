"""Folding a stream's events into its aggregate: the one `evolve` every reader shares."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.domain import contract, facility, party
from ledger.domain.contract import Contract
from ledger.domain.events import ContractDrafted, FacilityRegistered, PartyRegistered
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.events import Event, EventRegistry, RecordedEvent

Aggregate = Party | Facility | Contract


def evolve(state: Aggregate | None, event: Event, record: RecordedEvent) -> Aggregate:
    """The state after `event` (recorded as `record`)."""
    if state is None:
        match event:
            case PartyRegistered():
                return party.registered(event)
            case FacilityRegistered():
                return facility.registered(event, record.effective_at, record.position)
            case ContractDrafted():
                return contract.drafted(event)
        raise TypeError(f"stream {record.stream_id} cannot start with {record.type}")
    return state.apply(event, record.effective_at, record.position)


def fold(
    records: Iterable[RecordedEvent], registry: EventRegistry, state: Aggregate | None = None
) -> Aggregate | None:
    """`state` (None: the stream's start) after `records`."""
    for record in records:
        state = evolve(state, record.decode(registry), record)
    return state
