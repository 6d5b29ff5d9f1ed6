"""A seeded, valid capacity-ledger history, generated directly as domain events.

Running a million commands through `execute()` one at a time would take hours, so the
benchmarks write the events the handlers would have decided, as `NewEvent`s of the domain's
event types, and keep just enough state here to keep them valid under the domain rules:

- every stream starts with its creation event (PartyRegistered, FacilityRegistered,
  ContractDrafted); a signature appends ContractSigned to the contract and CapacityReserved
  to its facility, an amendment ContractAmended and CapacityReservationChanged, a
  termination ContractTerminated and CapacityReservationReleased (as `ledger.handlers` do);
- parties have the roles they act in, and facilities belong to the contract's provider;
- allocations fit their contract: a contract allows at most ALLOCATIONS_PER_RESOURCE
  allocations per resource, each capped at an equal share of the signed quantity, and
  amendments only raise quantities or extend terms;
- facilities are never overcommitted: their capacity (FACILITY_CAPACITY per resource) far
  exceeds what their contracts can ever reserve, and capacity changes only raise it;
- resizes and releases are effective at or after the allocation's start, allocations inside
  the contract's term, and only signed contracts are allocated under, amended or terminated;
- a scaled limit is computed from the limit in force, as the handler does.

Business time runs from START to END over the whole history: the clock advances by the
same step with every event, so event order and business time roughly agree, apart from the
backdated corrections (resizes and limit changes effective up to 45 days in the past).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import common  # noqa: F401  (puts the repository root on sys.path)

from ledger.canonical import format_decimal
from ledger.domain import events as ev
from ledger.domain import registry as domain_registry
from ledger.domain.contract import stream_id as contract_stream
from ledger.domain.facility import stream_id as facility_stream
from ledger.domain.party import stream_id as party_stream
from ledger.events import Event, Metadata, NewEvent

registry = domain_registry
"""The domain's registry (importing `ledger.domain.events` above registered its types)."""

START = datetime(2023, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)

FACILITY_CAPACITY = Decimal(1_000_000_000)
ALLOCATIONS_PER_RESOURCE = 3
RESOURCES = {"gpu.h100": "gpu", "power.mw": "MW", "storage.tb": "TB", "net.gbps": "Gbps"}
WORKLOADS = ("inference", "training", "batch", "eval", "search", "agents")
LIMITS = (
    ("standard", "requests-per-minute"),
    ("standard", "tokens-per-day"),
    ("premium", "requests-per-minute"),
    ("premium", "concurrent-jobs"),
)
BURST = ("premium", "burst-requests")
"""Temporary limits (with `until`) go to this key only, which is never scaled."""

IMPORTED = Metadata(actor="importer", source="import", reason="imported history")
CORRECTION = Metadata(actor="importer", source="import", reason="correction of an earlier figure")
PLAIN = Metadata(actor="importer", source="import")
"""Shared metadata objects: the store encodes a shared Metadata once per batch."""

MAX_STREAMS = 1_000
"""Streams one bulk-load transaction may touch (see `by_streams`)."""

SMALL = "tenant-small"
LARGE = "tenant-large"


@dataclass
class Allocation:
    allocation_id: str
    resource: str
    cap: Decimal
    quantity: Decimal
    start: datetime
    released: bool = False


@dataclass
class Contract:
    contract_id: str
    tenant: str
    provider: str
    facility: str
    quantities: dict[str, Decimal]
    term_start: datetime
    term_end: datetime
    lifecycle: str = "draft"
    allocations: list[Allocation] = field(default_factory=list)
    amendments: int = 0

    @property
    def stream(self) -> str:
        return contract_stream(self.contract_id)

    def slots(self, resource: str) -> int:
        """Allocations `resource` may still take: a released allocation is zero from its
        release on, and a new one never starts before that, so it frees its slot."""
        return ALLOCATIONS_PER_RESOURCE - sum(
            a.resource == resource and not a.released for a in self.allocations
        )


@dataclass
class Limit:
    effective_at: datetime
    sequence: int
    value: Decimal | None  # None: unlimited


@dataclass
class Tenant:
    party_id: str
    limits: dict[tuple[str, str], Limit] = field(default_factory=dict)
    contracts: list[Contract] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return party_stream(self.party_id)


@dataclass
class Facility:
    facility_id: str
    provider: str
    capacity: dict[str, Decimal]

    @property
    def stream(self) -> str:
        return facility_stream(self.facility_id)


class History:
    """The generator's state and its actions; each action returns the events it decides.

    `clock` is business "now"; `tick()` moves it on by one event's share of the history.
    Every event is also recorded in `emitted` (stream -> count) and, for the tenants in
    `tracked`, in `tracked[tenant]` as (index in the log, effective_at) pairs.
    """

    def __init__(self, seed: int, total_events: int, tracked: tuple[str, ...] = ()) -> None:
        self.rng = random.Random(seed)
        self.step = (END - START) / max(total_events, 1)
        self.clock = START
        self.count = 0
        self.sequence = 0
        self.tenants: dict[str, Tenant] = {}
        self.tenant_ids: list[str] = []
        self.providers: list[str] = []
        self.facilities: list[Facility] = []
        self.facilities_of: dict[str, list[Facility]] = {}
        self.drafts: list[Contract] = []
        self.active: list[Contract] = []
        self.contracts = 0
        self.tracked: dict[str, list[tuple[int, datetime]]] = {t: [] for t in tracked}

    # -- bookkeeping -----------------------------------------------------------------------

    def tick(self) -> None:
        self.clock = self.clock + self.step

    def _new(
        self, stream: str, event: Event, at: datetime, metadata: Metadata, tenant: str | None = None
    ) -> NewEvent:
        log = self.tracked.get(tenant) if tenant is not None else None
        if log is not None:
            log.append((self.count, at))
        self.count += 1
        return NewEvent(stream, event, at, metadata)

    def _next(self) -> int:
        self.sequence += 1
        return self.sequence

    def _backdated(self, earliest: datetime, share: float) -> tuple[datetime, Metadata]:
        """`clock`, or with probability `share` a date up to 45 days back (not before
        `earliest`), with the reason a backdated change needs."""
        if self.rng.random() < share:
            back = self.clock - timedelta(days=self.rng.uniform(1, 45))
            if back > earliest:
                return back, CORRECTION
        return max(self.clock, earliest), IMPORTED

    # -- parties and facilities ------------------------------------------------------------

    def register_provider(self, party_id: str) -> list[NewEvent]:
        self.providers.append(party_id)
        self.facilities_of[party_id] = []
        event = ev.PartyRegistered(
            party_id=party_id, name=f"Provider {party_id}", roles=("provider",)
        )
        return [self._new(party_stream(party_id), event, self.clock, PLAIN)]

    def register_facility(self, facility_id: str, provider: str) -> list[NewEvent]:
        capacity = dict.fromkeys(RESOURCES, FACILITY_CAPACITY)
        facility = Facility(facility_id, provider, capacity)
        self.facilities.append(facility)
        self.facilities_of[provider].append(facility)
        event = ev.FacilityRegistered(
            facility_id=facility_id,
            provider=provider,
            name=f"Facility {facility_id}",
            location=f"Region {self.rng.randrange(1, 40)}",
            capacity=_lines(capacity),
        )
        return [self._new(facility.stream, event, self.clock, IMPORTED)]

    def register_tenant(self, party_id: str) -> list[NewEvent]:
        self.tenants[party_id] = Tenant(party_id)
        self.tenant_ids.append(party_id)
        event = ev.PartyRegistered(party_id=party_id, name=f"Tenant {party_id}", roles=("tenant",))
        return [self._new(party_stream(party_id), event, self.clock, PLAIN, party_id)]

    def change_facility_capacity(self) -> list[NewEvent]:
        facility = self.rng.choice(self.facilities)
        resource = self.rng.choice(list(RESOURCES))
        facility.capacity[resource] += FACILITY_CAPACITY // 10  # only ever raised
        event = ev.FacilityCapacityChanged(capacity=_lines({resource: facility.capacity[resource]}))
        return [self._new(facility.stream, event, self.clock, IMPORTED)]

    # -- contracts -------------------------------------------------------------------------

    def draft(
        self,
        tenant_id: str,
        *,
        resources: int | None = None,
        term_days: tuple[int, int] = (180, 730),
        start_in_days: float | None = None,
        quantity: tuple[int, int] = (1_000, 100_000),
    ) -> tuple[Contract, list[NewEvent]]:
        rng = self.rng
        provider = rng.choice(self.providers)
        facility = rng.choice(self.facilities_of[provider])
        names = rng.sample(list(RESOURCES), resources or rng.choice((1, 1, 2, 3)))
        quantities = {name: Decimal(rng.randrange(*quantity)) for name in sorted(names)}
        offset = rng.uniform(0, 30) if start_in_days is None else start_in_days
        term_start = _day(self.clock + offset * DAY)
        term_end = term_start + rng.randrange(*term_days) * DAY
        self.contracts += 1
        contract = Contract(
            f"ctr_{self.contracts:07d}",
            tenant_id,
            provider,
            facility.facility_id,
            quantities,
            term_start,
            term_end,
        )
        event = ev.ContractDrafted(
            contract_id=contract.contract_id,
            provider=provider,
            tenant=tenant_id,
            facility=facility.facility_id,
            title=f"Capacity lease {contract.contract_id}",
            reference=f"REF-{self.contracts:07d}",
            term=ev.Term(start=term_start, end=term_end),
            capacity=_lines(quantities),
            commercial_terms={"currency": "USD", "billing": rng.choice(("monthly", "quarterly"))},
        )
        self.drafts.append(contract)
        self.tenants[tenant_id].contracts.append(contract)
        return contract, [self._new(contract.stream, event, self.clock, PLAIN, tenant_id)]

    def sign(self, contract: Contract) -> list[NewEvent]:
        self.drafts.remove(contract)
        contract.lifecycle = "signed"
        self.active.append(contract)
        signed = ev.ContractSigned(signed_by=(contract.provider, contract.tenant))
        reserved = ev.CapacityReserved(
            contract_id=contract.contract_id,
            tenant=contract.tenant,
            term=ev.Term(start=contract.term_start, end=contract.term_end),
            capacity=_lines(contract.quantities),
        )
        return [
            self._new(contract.stream, signed, self.clock, IMPORTED, contract.tenant),
            self._new(facility_stream(contract.facility), reserved, self.clock, IMPORTED),
        ]

    def void(self, contract: Contract) -> list[NewEvent]:
        self.drafts.remove(contract)
        contract.lifecycle = "voided"
        return [
            self._new(contract.stream, ev.ContractVoided(), self.clock, IMPORTED, contract.tenant)
        ]

    def amend(self, contract: Contract) -> list[NewEvent]:
        """Raise one resource's quantity, and sometimes extend the term."""
        rng = self.rng
        contract.amendments += 1
        amendment_id = f"amd_{contract.contract_id[4:]}_{contract.amendments}"
        resource = rng.choice(sorted(contract.quantities))
        contract.quantities[resource] += Decimal(rng.randrange(100, 10_000))
        term_end = None
        if rng.random() < 0.3:
            term_end = contract.term_end + rng.randrange(30, 365) * DAY
            contract.term_end = term_end
        at = max(self.clock, contract.term_start)
        capacity = _lines({resource: contract.quantities[resource]})
        amended = ev.ContractAmended(
            amendment_id=amendment_id, capacity=capacity, term_end=term_end
        )
        changed = ev.CapacityReservationChanged(
            contract_id=contract.contract_id,
            amendment_id=amendment_id,
            capacity=capacity,
            term_end=term_end,
        )
        return [
            self._new(contract.stream, amended, at, IMPORTED, contract.tenant),
            self._new(facility_stream(contract.facility), changed, at, IMPORTED),
        ]

    def terminate(self, contract: Contract) -> list[NewEvent]:
        contract.lifecycle = "terminated"
        released = ev.CapacityReservationReleased(contract_id=contract.contract_id)
        return [
            self._new(
                contract.stream, ev.ContractTerminated(), self.clock, IMPORTED, contract.tenant
            ),
            self._new(facility_stream(contract.facility), released, self.clock, IMPORTED),
        ]

    # -- allocations -----------------------------------------------------------------------

    def allocate(self, contract: Contract, resource: str | None = None) -> list[NewEvent]:
        rng = self.rng
        if resource is None:
            free = [r for r in sorted(contract.quantities) if contract.slots(r) > 0]
            if not free:
                return []
            resource = rng.choice(free)
        cap = (contract.quantities[resource] / ALLOCATIONS_PER_RESOURCE).to_integral_value(
            rounding="ROUND_FLOOR"
        )
        if cap < 1 or contract.slots(resource) <= 0:
            return []
        at = max(self.clock, contract.term_start)
        quantity = Decimal(rng.randint(max(1, int(cap) // 10), int(cap)))
        allocation = Allocation(
            f"alc_{contract.contract_id[4:]}_{len(contract.allocations) + 1}",
            resource,
            cap,
            quantity,
            at,
        )
        contract.allocations.append(allocation)
        event = ev.CapacityAllocated(
            allocation_id=allocation.allocation_id,
            workload=rng.choice(WORKLOADS),
            resource=resource,
            quantity=quantity,
        )
        return [self._new(contract.stream, event, at, IMPORTED, contract.tenant)]

    def resize(self, contract: Contract, backdated: float = 0.08) -> list[NewEvent]:
        live = [a for a in contract.allocations if not a.released]
        if not live:
            return self.allocate(contract)
        allocation = self.rng.choice(live)
        quantity = Decimal(self.rng.randint(1, int(allocation.cap)))
        allocation.quantity = quantity
        at, metadata = self._backdated(allocation.start, backdated)
        event = ev.AllocationResized(allocation_id=allocation.allocation_id, quantity=quantity)
        return [self._new(contract.stream, event, at, metadata, contract.tenant)]

    def release(self, contract: Contract) -> list[NewEvent]:
        live = [a for a in contract.allocations if not a.released]
        if not live:
            return []
        allocation = self.rng.choice(live)
        allocation.released = True
        event = ev.AllocationReleased(allocation_id=allocation.allocation_id)
        at = max(self.clock, allocation.start)
        return [self._new(contract.stream, event, at, IMPORTED, contract.tenant)]

    # -- limits ----------------------------------------------------------------------------

    def change_limit(
        self,
        tenant_id: str,
        backdated: float = 0.05,
        operation: str | None = None,
        key: tuple[str, str] | None = None,
        burst: float = 0.05,
    ) -> list[NewEvent]:
        rng = self.rng
        tenant = self.tenants[tenant_id]
        if rng.random() < burst:
            return self._burst(tenant)
        key = key or rng.choice(LIMITS)
        current = tenant.limits.get(key)
        if operation is None:
            roll = rng.random()
            operation = (
                "set" if current is None or roll < 0.6 else ("scale" if roll < 0.93 else "remove")
            )
        at, metadata = self.clock, IMPORTED
        value: Decimal | None
        factor: Decimal | None = None
        if operation == "set":
            # Only plain sets are backdated: a scale reads the limit in force at `clock`.
            at, metadata = self._backdated(START, backdated)
            value, unlimited = Decimal(rng.randrange(10, 100_000)), False
        elif operation == "scale":
            assert current is not None
            factor = rng.choice((Decimal("0.5"), Decimal("1.5"), Decimal(2), Decimal("1.25")))
            unlimited = current.value is None
            value = None
            if current.value is not None:
                value = Decimal(format_decimal(current.value * factor))
        else:
            value, unlimited = None, True
        entry = Limit(at, self._next(), value)
        if current is None or (entry.effective_at, entry.sequence) > (
            current.effective_at,
            current.sequence,
        ):
            tenant.limits[key] = entry  # the one in force from now on
        event = ev.LimitChanged(
            plan=key[0],
            limit=key[1],
            operation=operation,
            value=value,
            unlimited=unlimited,
            factor=factor,
        )
        return [self._new(tenant.stream, event, at, metadata, tenant_id)]

    def _burst(self, tenant: Tenant) -> list[NewEvent]:
        until = self.clock + self.rng.randrange(1, 14) * DAY
        event = ev.LimitChanged(
            plan=BURST[0],
            limit=BURST[1],
            operation="set",
            value=Decimal(self.rng.randrange(100, 10_000)),
            unlimited=False,
            until=until,
        )
        return [self._new(tenant.stream, event, self.clock, IMPORTED, tenant.party_id)]

    # -- picking ---------------------------------------------------------------------------

    def pick_active(self, among: list[Contract] | None = None) -> Contract | None:
        """A signed contract whose term has not ended (ended ones are dropped as found)."""
        pool = self.active if among is None else among
        while pool:
            index = self.rng.randrange(len(pool))
            contract = pool[index]
            if contract.lifecycle == "signed" and contract.term_end > self.clock:
                return contract
            pool[index] = pool[-1]
            pool.pop()
        return None


def _lines(quantities: dict[str, Decimal]) -> tuple[ev.CapacityLine, ...]:
    return tuple(
        ev.CapacityLine(resource=name, quantity=quantity, unit=RESOURCES[name])
        for name, quantity in sorted(quantities.items())
    )


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# -- the benchmark's history ----------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """How many of each kind of entity a history of `events` events holds."""

    events: int
    providers: int
    facilities: int
    tenants: int
    large_events: int
    small_events: int = 9

    @staticmethod
    def of(events: int) -> Shape:
        return Shape(
            events=events,
            providers=max(3, events // 20_000),
            facilities=max(6, events // 400),
            tenants=max(10, events // 60),
            large_events=min(10_000, events // 5),
        )


class Generator:
    """The full history: the population's random mix, `tenant-large`'s deep history at even
    intervals, and `tenant-small`'s nine scripted events spread over the log.

    The population mix (share of actions; amendments, signatures and terminations append
    two events): resize 35%, limit change 20%, allocate 12%, draft 5%, sign 4.5%, release
    3%, amend 2%, void 0.3%, terminate 0.5%, facility capacity change 0.5%, plus tenant
    registrations spread over the first two thirds of the history.
    """

    ACTIONS = (
        ("resize", 35.0),
        ("limit", 20.0),
        ("allocate", 12.0),
        ("draft", 5.0),
        ("sign", 4.5),
        ("release", 3.0),
        ("amend", 2.0),
        ("void", 0.3),
        ("terminate", 0.5),
        ("facility", 0.5),
    )

    def __init__(self, events: int, seed: int) -> None:
        self.shape = Shape.of(events)
        self.history = History(seed, events, tracked=(SMALL, LARGE))
        self.rng = random.Random(seed + 1)
        names, weights = zip(*self.ACTIONS, strict=True)
        self._names, self._cumulative = names, list(_accumulate(weights))
        self._large_stride = events / max(self.shape.large_events, 1)
        self._next_large = self._large_stride / 2
        self._small_script = self._script_small()
        self._small_at = [int(events * (0.1 + 0.8 * i / 8)) for i in range(9)]
        self._small_contract: Contract | None = None
        self._large_contracts: list[Contract] = []
        self._population: list[str] = []

    def batches(self, size: int) -> Iterator[list[NewEvent]]:
        """The whole history, in batches of about `size` events."""
        history, shape = self.history, self.shape
        batch: list[NewEvent] = []
        batch.extend(self._setup())
        while history.count < shape.events:
            if self._small_at and history.count >= self._small_at[0]:
                self._small_at.pop(0)
                new = next(self._small_script)
            elif history.count >= self._next_large and self._large_budget() > 0:
                self._next_large += self._large_stride
                new = self._large_action()
            else:
                new = self._population_action()
            for event in new:
                batch.append(event)
                history.tick()
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _large_budget(self) -> int:
        return self.shape.large_events - len(self.history.tracked[LARGE])

    def _setup(self) -> list[NewEvent]:
        history, shape = self.history, self.shape
        events: list[NewEvent] = []
        for p in range(shape.providers):
            events += history.register_provider(f"provider-{p:03d}")
        for f in range(shape.facilities):
            provider = history.providers[f % shape.providers]
            events += history.register_facility(f"facility-{f:05d}", provider)
        events += history.register_tenant(LARGE)
        for key in LIMITS:
            events += history.change_limit(LARGE, backdated=0, operation="set", key=key, burst=0)
        return events

    # -- the population --------------------------------------------------------------------

    def _population_action(self) -> list[NewEvent]:
        history, rng = self.history, self.rng
        registered = len(self._population)
        # Registrations run over the first two thirds of the log.
        due = self.shape.tenants * min(1.0, history.count / (self.shape.events * 0.66)) + 2
        if registered < due:
            tenant = f"tenant-{registered:06d}"
            self._population.append(tenant)
            return history.register_tenant(tenant)
        action = self._names[_bisect(self._cumulative, rng.random() * self._cumulative[-1])]
        tenant = rng.choice(self._population)
        if action == "limit":
            return history.change_limit(tenant)
        if action == "facility":
            return history.change_facility_capacity()
        if action == "draft":
            return history.draft(tenant)[1]
        if action in ("sign", "void"):
            drafts = [c for c in history.drafts[-50:] if c.tenant not in (SMALL, LARGE)]
            if drafts:
                draft = rng.choice(drafts)
                return history.sign(draft) if action == "sign" else history.void(draft)
            return history.draft(tenant)[1]
        contract = self._pick_population_contract()
        if contract is None:
            return history.draft(tenant)[1]
        if action == "resize":
            return history.resize(contract) or history.change_limit(tenant)
        if action == "allocate":
            return history.allocate(contract) or history.resize(contract)
        if action == "release":
            return (
                history.release(contract)
                or history.allocate(contract)
                or (history.change_limit(tenant))
            )
        if action == "amend":
            return history.amend(contract)
        return history.terminate(contract)

    def _pick_population_contract(self) -> Contract | None:
        for _ in range(5):
            contract = self.history.pick_active()
            if contract is None:
                return None
            if contract.tenant not in (SMALL, LARGE):
                return contract
        return None

    # -- tenant-large ----------------------------------------------------------------------

    def _large_action(self) -> list[NewEvent]:
        """Deep history: about 55% resizes (also the fallback when another action has
        nothing to act on), 40% limit changes, a few allocations, amendments, releases and
        new contracts (about two in force at a time, terms of 12-18 months)."""
        history, rng = self.history, self.rng
        active = [
            c
            for c in self._large_contracts
            if c.lifecycle == "signed" and c.term_end > history.clock
        ]
        if len(active) < 2 or (rng.random() < 0.0015 and len(active) < 4):
            contract, drafted = history.draft(
                LARGE,
                resources=2,
                term_days=(365, 545),
                start_in_days=0,
                quantity=(50_000, 200_000),
            )
            self._large_contracts.append(contract)
            signed = history.sign(contract)
            history.active.remove(contract)  # only tenant-large's own actions touch it
            return drafted + signed + history.allocate(contract)
        roll = rng.random()
        contract = rng.choice(active)
        live = sum(not a.released for a in contract.allocations)
        new: list[NewEvent] = []
        if roll < 0.40:
            return history.change_limit(LARGE, backdated=0.08)
        if roll < 0.45:
            new = history.allocate(contract)
        elif roll < 0.47:
            new = history.amend(contract)
        elif roll < 0.48 and live > 2:
            new = history.release(contract)
        return new or history.resize(contract, backdated=0.08) or history.change_limit(LARGE)

    # -- tenant-small ----------------------------------------------------------------------

    def _script_small(self) -> Iterator[list[NewEvent]]:
        """Nine events: registration, a three-year contract (drafted, signed: the facility's
        reservation is the tenth event, in the facility's stream), two limits, two
        allocations, a resize and a scaled limit."""
        history = self.history
        yield history.register_tenant(SMALL)
        contract, drafted = history.draft(
            SMALL, resources=1, term_days=(1095, 1096), start_in_days=0, quantity=(3_000, 3_001)
        )
        yield drafted
        signed = history.sign(contract)
        history.active.remove(contract)
        yield signed
        yield history.change_limit(SMALL, backdated=0, operation="set", key=LIMITS[0], burst=0)
        yield history.change_limit(SMALL, backdated=0, operation="set", key=LIMITS[1], burst=0)
        yield history.allocate(contract)
        yield history.allocate(contract)
        yield history.resize(contract, backdated=0)
        yield history.change_limit(SMALL, backdated=0, operation="scale", key=LIMITS[0], burst=0)


def _accumulate(weights: tuple[float, ...]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _bisect(cumulative: list[float], value: float) -> int:
    for index, bound in enumerate(cumulative):
        if value < bound:
            return index
    return len(cumulative) - 1


def by_streams(batch: Sequence[NewEvent], limit: int = MAX_STREAMS) -> Iterator[list[NewEvent]]:
    """`batch` in order, cut so that no piece touches more than `limit` streams.

    On PostgreSQL the store reads every stream's version as one column of one statement,
    and a select list holds at most 1,664 entries: an append touching more streams fails
    (`TooManyColumns`)."""
    piece: list[NewEvent] = []
    streams: set[str] = set()
    for new in batch:
        if new.stream_id not in streams and len(streams) == limit:
            yield piece
            piece, streams = [], set()
        piece.append(new)
        streams.add(new.stream_id)
    if piece:
        yield piece
