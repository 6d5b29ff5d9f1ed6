"""An in-memory ledger for the pure decide functions: states by stream, evolved by the
changes a decision returns, with positions counted up. No database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from ledger.domain import commands as c
from ledger.domain import contract as contracts
from ledger.domain import events as ev
from ledger.domain import facility as facilities
from ledger.domain import party as parties
from ledger.domain.aggregates import Aggregate
from ledger.domain.contract import Contract
from ledger.domain.decisions.allocation import decide_allocate_capacity
from ledger.domain.decisions.contract import (
    Counterparties,
    decide_draft_contract,
    decide_sign_contract,
)
from ledger.domain.decisions.facility import decide_register_facility
from ledger.domain.decisions.party import decide_close_period, decide_register_party
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.domain.rules import Decided

NOW = datetime(2026, 12, 1, tzinfo=UTC)
START = datetime(2027, 1, 1, tzinfo=UTC)
END = datetime(2028, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def gpus(quantity: int | str) -> tuple[ev.CapacityLine, ...]:
    return (ev.CapacityLine(resource="gpu.h100", quantity=Decimal(quantity), unit="gpu"),)


class World:
    def __init__(self) -> None:
        self.states: dict[str, Aggregate] = {}
        self.position = 0

    def run(self, decided: Decided) -> Decided:
        for change in decided.changes:
            self.position += 1
            state = self.states.get(change.stream_id)
            event = change.event
            if state is not None:
                state = state.apply(event, change.effective_at, self.position)
            elif isinstance(event, ev.PartyRegistered):
                state = parties.registered(event)
            elif isinstance(event, ev.FacilityRegistered):
                state = facilities.registered(event, change.effective_at, self.position)
            else:
                assert isinstance(event, ev.ContractDrafted), event
                state = contracts.drafted(event)
            self.states[change.stream_id] = state
        return decided

    def party(self, party_id: str) -> Party | None:
        return cast(Party | None, self.states.get(parties.stream_id(party_id)))

    def facility(self, facility_id: str) -> Facility | None:
        return cast(Facility | None, self.states.get(facilities.stream_id(facility_id)))

    def contract(self, contract_id: str) -> Contract:
        found = self.states[contracts.stream_id(contract_id)]
        assert isinstance(found, Contract)
        return found

    def books(self, tenant: str) -> datetime | None:
        party = self.party(tenant)
        return None if party is None else party.closed_through

    def named(self, provider: str = "spacex", tenant: str = "anthropic") -> Counterparties:
        return Counterparties(
            provider, self.party(provider), tenant, self.party(tenant), "colossus-1",
            self.facility("colossus-1"),
        )  # fmt: skip

    # -- setting the scene through the decisions themselves --------------------------------

    def register(self, capacity: int = 1000) -> World:
        for party_id, role in (("spacex", "provider"), ("anthropic", "tenant"), ("acme", "tenant")):
            cmd = c.RegisterParty(party_id=party_id, name=party_id, roles=(role,))
            self.run(decide_register_party(None, cmd, NOW))
        facility = c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis",
            capacity=gpus(capacity),
            effective_at=at("2026-01-01T00:00:00"),
        )
        self.run(decide_register_facility(self.party("spacex"), None, facility, NOW))
        return self

    def draft(
        self,
        contract_id: str,
        quantity: int | str,
        start: datetime = START,
        end: datetime = END,
        tenant: str = "anthropic",
    ) -> Contract:
        cmd = c.DraftContract(
            provider="spacex",
            tenant=tenant,
            facility="colossus-1",
            title=contract_id,
            term=ev.Term(start=start, end=end),
            capacity=gpus(quantity),
        )
        self.run(decide_draft_contract(None, self.named(tenant=tenant), cmd, contract_id, NOW))
        return self.contract(contract_id)

    def sign(self, contract_id: str) -> Contract:
        contract = self.contract(contract_id)
        cmd = c.SignContract(contract_id=contract_id, signed_by=("someone",))
        facility = self.facility(contract.facility)
        self.run(decide_sign_contract(contract, facility, self.books(contract.tenant), cmd, NOW))
        return self.contract(contract_id)

    def lease(self, contract_id: str, quantity: int | str, **term: datetime) -> Contract:
        self.draft(contract_id, quantity, **term)
        return self.sign(contract_id)

    def allocate(
        self,
        contract_id: str,
        quantity: int | str,
        effective_at: datetime = START,
        until: datetime | None = None,
        allocation_id: str = "alc-1",
    ) -> Decided:
        contract = self.contract(contract_id)
        cmd = c.AllocateCapacity(
            contract_id=contract_id,
            workload="claude",
            resource="gpu.h100",
            quantity=Decimal(quantity),
            effective_at=effective_at,
            until=until,
        )
        decided = decide_allocate_capacity(
            contract, self.books(contract.tenant), cmd, allocation_id, NOW
        )
        return self.run(decided)

    def close_books(self, tenant: str, through: datetime) -> None:
        cmd = c.ClosePeriod(tenant=tenant, through=through)
        self.run(decide_close_period(self.party(tenant), cmd, NOW))
