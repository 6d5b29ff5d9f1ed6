"""Command handlers and their dispatch table.

Each handler loads the aggregates it touches, decides with their state (raising a typed
domain error, or returning the events to append), and `execute` appends them with the
versions it loaded as expectations, in one unit of work with the inline projections and
the idempotency record. A version conflict is retried unless the caller pinned a version.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Connection

from ledger import exact
from ledger.domain import commands as c
from ledger.domain import contract as contracts
from ledger.domain import events as ev
from ledger.domain import facility as facilities
from ledger.domain import party as parties
from ledger.domain.aggregates import Aggregate, fold
from ledger.domain.capacity import CapacitySchedule
from ledger.domain.contract import Contract
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.errors import ConcurrencyError, FieldError, InvalidInput, NotFound, RuleViolation
from ledger.events import Event, Metadata, NewEvent, RecordedEvent, Source
from ledger.exact import OutOfRange, bounded
from ledger.idempotency import IdempotencyRecord
from ledger.snapshots import Snapshot
from ledger.store import NO_STREAM, ExpectedVersion
from ledger.timeline import exceeds
from ledger.unit_of_work import Ledger, UnitOfWork

BACKDATING_TOLERANCE = timedelta(minutes=1)
"""A change effective further in the past than this is backdated and needs a reason."""

SNAPSHOT_FROM_VERSION = 32
"""Streams shorter than this are folded from their start on every load: refolding a few
events costs less than keeping their states alive (measured: snapshots of every 5-event
contract slowed a command cycle by 5-10%; the garbage collector walking the kept states is
my guess at why)."""

PENDING = 2**62
"""Stands in for the position of an event not yet appended (it sorts after all others)."""


@dataclass(frozen=True)
class IdempotencyRequest:
    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Context:
    """Who asks, from where, and how: pinned version, dry run, idempotency key."""

    actor: str | None = None
    source: Source = "api"
    correlation_id: str | None = None
    expected_version: int | None = None
    dry_run: bool = False
    idempotency: IdempotencyRequest | None = None


@dataclass(frozen=True)
class Decision:
    events: tuple[NewEvent, ...]
    expected: Mapping[str, ExpectedVersion]
    result: Mapping[str, Any] = field(default_factory=dict)


Response = tuple[int, str]


@dataclass(frozen=True)
class Outcome:
    result: Mapping[str, Any]
    events: tuple[RecordedEvent, ...] = ()
    planned: tuple[NewEvent, ...] = ()
    position: int | None = None
    replayed: IdempotencyRecord | None = None
    response: Response | None = None
    """(status, body) as rendered in the append's transaction, or as first stored on replay."""
    refused: Refusal | None = None


PERIOD_EVENTS = (ev.PeriodClosed.event_type, ev.PeriodReopened.event_type)
"""The events that set where a party's books are closed through (the latest one wins)."""


class State:
    """The aggregates a handler reads, loaded inside its unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def _load(self, stream_id: str) -> Aggregate | None:
        """The stream's current state: its snapshot brought up to date, or a fold from the
        start when there is none or it no longer matches the stream (see ledger.snapshots)."""
        registry = self.uow.registry
        kept = self.uow.snapshots.get(stream_id)
        records = [] if kept is None else self.uow.read_stream(stream_id, from_version=kept.version)
        if kept is not None and records and records[0].hash == kept.hash:
            state = fold(records[1:], registry, cast(Aggregate, kept.state))
        else:
            records = self.uow.read_stream(stream_id)
            state = fold(records, registry)
        if records:
            last = records[-1]
            self.uow.remember_folded(stream_id, last.stream_version, state)
            if last.stream_version >= SNAPSHOT_FROM_VERSION:
                self.uow.snapshots.put(stream_id, Snapshot(last.stream_version, last.hash, state))
        return state

    def party(self, party_id: str) -> Party | None:
        return cast(Party | None, self._load(parties.stream_id(party_id)))

    def facility(self, facility_id: str) -> Facility | None:
        return cast(Facility | None, self._load(facilities.stream_id(facility_id)))

    def contract(self, contract_id: str) -> Contract | None:
        return cast(Contract | None, self._load(contracts.stream_id(contract_id)))

    def closed_through(self, party_id: str) -> datetime | None:
        """Where the party's books are closed through (None: open); NotFound if no party.

        Read under the append lock, held from here until the unit of work ends. A contract
        command checks the books of a stream it does not append to, so its expected
        versions cannot catch a close committed after this read; on PostgreSQL one did,
        and a backdated change landed in a period just closed. With the lock, a close
        either committed before this read (and is seen) or commits after this command.
        """
        stream = parties.stream_id(party_id)
        version, latest = self.uow.locked_stream_tail(stream, PERIOD_EVENTS)
        if version == 0:
            raise NotFound("party", party_id)
        if latest is None:
            return None
        event = latest.decode(self.uow.registry)
        assert isinstance(event, ev.PeriodClosed | ev.PeriodReopened)
        return event.through


# -- shared checks ---------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def require_party(state: State, party_id: str, role: str) -> Party:
    party = state.party(party_id)
    if party is None:
        raise NotFound("party", party_id)
    if role not in party.roles:
        raise RuleViolation("party_role", f"party {party_id!r} is not a {role}")
    return party


def require_facility(state: State, facility_id: str) -> Facility:
    facility = state.facility(facility_id)
    if facility is None:
        raise NotFound("facility", facility_id)
    return facility


def require_contract(state: State, contract_id: str, ctx: Context) -> Contract:
    contract = state.contract(contract_id)
    if contract is None:
        raise NotFound("contract", contract_id)
    if ctx.expected_version is not None and ctx.expected_version != contract.version:
        raise ConcurrencyError(contract.stream_id, ctx.expected_version, contract.version)
    return contract


def require_reason(reason: str | None, why: str) -> str:
    if reason is None or not reason.strip():
        raise InvalidInput(
            f"a reason is required {why}", [FieldError(("reason",), f"required {why}")]
        )
    return reason.strip()


def reason_if_given(reason: str | None) -> str | None:
    """A registration is the first record of something, not a correction: it may be dated
    when the thing came into being, and a reason is kept only when given."""
    return reason.strip() if reason is not None and reason.strip() else None


def reason_if_backdated(reason: str | None, effective_at: datetime, now: datetime) -> str | None:
    if effective_at < now - BACKDATING_TOLERANCE:
        return require_reason(reason, "for a backdated change")
    return reason


def check_term(start: datetime, end: datetime) -> None:
    if not start < end:
        raise RuleViolation(
            "term_invalid", f"term start {start:%Y-%m-%dT%H:%M:%SZ} is not before its end", at=start
        )


def check_lines(lines: tuple[ev.CapacityLine, ...]) -> None:
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.resource in seen:
            raise InvalidInput(
                f"resource {line.resource!r} is listed twice",
                [FieldError(("capacity", index, "resource"), "duplicate resource")],
            )
        seen.add(line.resource)


def check_units(lines: tuple[ev.CapacityLine, ...], units: dict[str, str]) -> None:
    """A unit belongs to its resource: a line may not measure a resource in another unit
    than the one it was first given in (120,000 would no longer mean what it meant)."""
    for index, line in enumerate(lines):
        unit = units.get(line.resource)
        if unit is not None and line.unit != unit:
            raise InvalidInput(
                f"resource {line.resource!r} is measured in {unit!r}, not {line.unit!r}",
                [FieldError(("capacity", index, "unit"), f"must be {unit!r}")],
            )


def check_open_period(tenant: Party, first_affected: datetime) -> None:
    check_books(tenant.party_id, tenant.closed_through, first_affected)


def check_books(party_id: str, closed: datetime | None, first_affected: datetime) -> None:
    if closed is not None and first_affected < closed:
        raise RuleViolation(
            "period_closed",
            f"the books of {party_id!r} are closed through {closed:%Y-%m-%dT%H:%M:%SZ}",
            at=first_affected,
        )


def check_tenant_books(state: State, contract: Contract, first_affected: datetime) -> None:
    """Invariant on closed periods for a contract command: only the tenant's latest close or
    reopen is read, not its whole stream (a tenant's limit history can run to thousands of
    events, and every contract command of the tenant would fold them)."""
    closed = state.closed_through(contract.tenant)
    check_books(contract.tenant, closed, first_affected)


def check_allocations(contract: Contract) -> None:
    """Invariant 3: at every instant, per resource, allocations <= contracted quantity."""
    for resource in sorted(contract.resources()):
        allocated = contract.allocated(resource, by_workload=False)
        at = allocated.first_instant(contract.contracted(resource), exceeds)
        if at is not None:
            raise RuleViolation(
                "allocation_exceeds_contract",
                f"allocations of {resource} would exceed contract {contract.contract_id}",
                resource=resource,
                at=at,
            )


def check_facility(facility: Facility, contract_id: str, schedule: CapacitySchedule | None) -> None:
    """Invariant 4: at every instant, per resource, reservations <= facility capacity."""
    resources = facility.resources() | (schedule.resources() if schedule else set())
    for resource in sorted(resources):
        reserved = facility.reserved(resource, excluding=contract_id)
        if schedule is not None:
            reserved = reserved + schedule.quantity(resource, f"r:{contract_id}")
        at = reserved.first_instant(facility.capacity(resource), exceeds)
        if at is not None:
            raise RuleViolation(
                "facility_overcommitted",
                f"{resource} reserved at {facility.facility_id} would exceed its capacity",
                resource=resource,
                at=at,
            )


def require_signed(contract: Contract, action: str) -> None:
    if contract.lifecycle != "signed":
        raise RuleViolation(
            "contract_state",
            f"cannot {action} contract {contract.contract_id}: it is {contract.lifecycle}",
        )


_DRAFT_ACTIONS = {"revise": "revised", "void": "voided", "sign": "signed"}


def require_draft(contract: Contract, action: str) -> None:
    if contract.lifecycle != "draft":
        raise RuleViolation(
            "contract_state",
            f"cannot {action} contract {contract.contract_id}:"
            f" only drafts can be {_DRAFT_ACTIONS[action]}",
        )


class Emit:
    """Builds the events of one decision with shared metadata."""

    def __init__(self, ctx: Context, reason: str | None) -> None:
        self.metadata = Metadata(
            actor=ctx.actor,
            source=ctx.source,
            reason=reason,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency.key if ctx.idempotency else None,
        )

    def __call__(self, stream_id: str, event: Event, effective_at: datetime) -> NewEvent:
        return NewEvent(stream_id, event, effective_at, self.metadata)


def pending(state: Aggregate, event: Event, effective_at: datetime) -> Any:
    """`state` as it would be after `event`, to check invariants before appending."""
    return state.apply(event, effective_at, PENDING)


# -- handlers ----------------------------------------------------------------------------------


def register_party(state: State, cmd: c.RegisterParty, ctx: Context, now: datetime) -> Decision:
    if state.party(cmd.party_id) is not None:
        raise RuleViolation("already_exists", f"party {cmd.party_id!r} already exists")
    event = ev.PartyRegistered(
        party_id=cmd.party_id, name=cmd.name, roles=tuple(dict.fromkeys(cmd.roles))
    )
    stream = parties.stream_id(cmd.party_id)
    return Decision(
        (Emit(ctx, reason_if_given(cmd.reason))(stream, event, cmd.effective_at or now),),
        {stream: NO_STREAM},
        {"party_id": cmd.party_id},
    )


def register_facility(
    state: State, cmd: c.RegisterFacility, ctx: Context, now: datetime
) -> Decision:
    require_party(state, cmd.provider, "provider")
    if state.facility(cmd.facility_id) is not None:
        raise RuleViolation("already_exists", f"facility {cmd.facility_id!r} already exists")
    check_lines(cmd.capacity)
    effective_at = cmd.effective_at or now
    event = ev.FacilityRegistered(
        facility_id=cmd.facility_id,
        provider=cmd.provider,
        name=cmd.name,
        location=cmd.location,
        capacity=cmd.capacity,
    )
    stream = facilities.stream_id(cmd.facility_id)
    return Decision(
        (Emit(ctx, reason_if_given(cmd.reason))(stream, event, effective_at),),
        {stream: NO_STREAM},
        {"facility_id": cmd.facility_id},
    )


def change_facility_capacity(
    state: State, cmd: c.ChangeFacilityCapacity, ctx: Context, now: datetime
) -> Decision:
    facility = require_facility(state, cmd.facility_id)
    check_lines(cmd.capacity)
    check_units(cmd.capacity, facility.units)
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    if effective_at < facility.registered_at:
        raise RuleViolation(
            "term_invalid",
            "a capacity change cannot precede the facility's registration",
            at=effective_at,
        )
    event = ev.FacilityCapacityChanged(capacity=cmd.capacity)
    check_facility(pending(facility, event, effective_at), "", None)
    return Decision(
        (Emit(ctx, reason)(facility.stream_id, event, effective_at),),
        {facility.stream_id: facility.version},
        {"facility_id": facility.facility_id},
    )


def _check_parties(state: State, provider: str, tenant: str, facility_id: str) -> None:
    require_party(state, tenant, "tenant")
    require_party(state, provider, "provider")
    facility = require_facility(state, facility_id)
    if facility.provider != provider:
        raise RuleViolation(
            "provider_mismatch",
            f"facility {facility_id!r} belongs to {facility.provider!r}, not {provider!r}",
        )


def draft_contract(state: State, cmd: c.DraftContract, ctx: Context, now: datetime) -> Decision:
    check_term(cmd.term.start, cmd.term.end)
    check_lines(cmd.capacity)
    _check_parties(state, cmd.provider, cmd.tenant, cmd.facility)
    contract_id = cmd.contract_id or new_id("ctr")
    if state.contract(contract_id) is not None:
        raise RuleViolation("already_exists", f"contract {contract_id!r} already exists")
    event = ev.ContractDrafted(contract_id=contract_id, **cmd.model_dump(exclude={"contract_id"}))
    stream = contracts.stream_id(contract_id)
    return Decision(
        (Emit(ctx, None)(stream, event, now),), {stream: NO_STREAM}, {"contract_id": contract_id}
    )


def revise_draft(state: State, cmd: c.ReviseDraft, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    require_draft(contract, "revise")
    changes = cmd.model_dump(exclude={"contract_id", "cleared"}, exclude_none=True)
    both = sorted(set(cmd.cleared) & set(changes))
    if both:
        raise InvalidInput(
            f"{', '.join(both)}: either set or cleared, not both",
            [FieldError((name,), "set and cleared at once") for name in both],
        )
    if cmd.cleared:
        changes["cleared"] = tuple(dict.fromkeys(cmd.cleared))
    if not changes:
        raise InvalidInput("nothing to revise: give at least one draft field")
    if cmd.tenant is not None and cmd.tenant != contract.tenant:
        # What a tenant may read (its event feed, its exports) follows the contracts that
        # name it. Moved to another tenant, a draft's earlier events would belong to a feed
        # its new tenant had already read past, and its later ones to a feed its old tenant
        # could no longer see.
        raise InvalidInput(
            "a draft's tenant is fixed: void it and draft again for the other tenant",
            [FieldError(("tenant",), "fixed once drafted")],
        )
    event = ev.ContractDraftRevised(**changes)
    revised: Contract = pending(contract, event, now)
    if not revised.capacity:
        raise InvalidInput(
            "a contract needs at least one capacity line",
            [FieldError(("capacity",), "at least one line is required")],
        )
    check_term(revised.term_start, revised.term_end)
    check_lines(revised.capacity)
    _check_parties(state, revised.provider, revised.tenant, revised.facility)
    return Decision(
        (Emit(ctx, None)(contract.stream_id, event, now),),
        {contract.stream_id: contract.version},
        {"contract_id": contract.contract_id},
    )


def void_contract(state: State, cmd: c.VoidContract, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    reason = require_reason(cmd.reason, "to void a contract")
    require_draft(contract, "void")
    return Decision(
        (Emit(ctx, reason)(contract.stream_id, ev.ContractVoided(), cmd.effective_at or now),),
        {contract.stream_id: contract.version},
        {"contract_id": contract.contract_id},
    )


def sign_contract(state: State, cmd: c.SignContract, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    require_draft(contract, "sign")
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    check_tenant_books(state, contract, contract.term_start)
    facility = require_facility(state, contract.facility)
    if facility.provider != contract.provider:
        raise RuleViolation(
            "provider_mismatch",
            f"facility {facility.facility_id!r} belongs to {facility.provider!r}",
        )
    check_facility(facility, contract.contract_id, contract.schedule())
    emit = Emit(ctx, reason)
    reserved = ev.CapacityReserved(
        contract_id=contract.contract_id,
        tenant=contract.tenant,
        term=ev.Term(start=contract.term_start, end=contract.term_end),
        capacity=contract.capacity,
    )
    return Decision(
        (
            emit(contract.stream_id, ev.ContractSigned(signed_by=cmd.signed_by), effective_at),
            emit(facility.stream_id, reserved, effective_at),
        ),
        {contract.stream_id: contract.version, facility.stream_id: facility.version},
        {"contract_id": contract.contract_id},
    )


def amend_contract(state: State, cmd: c.AmendContract, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    reason = require_reason(cmd.reason, "for an amendment")
    if not cmd.capacity and cmd.term_end is None:
        raise InvalidInput("an amendment needs capacity lines, a new term end, or both")
    check_lines(cmd.capacity)
    check_units(cmd.capacity, contract.units)
    require_signed(contract, "amend")
    amendment_id = cmd.amendment_id or new_id("amd")
    if any(existing == amendment_id for existing, _ in contract.amendments):
        raise RuleViolation("already_exists", f"amendment {amendment_id!r} already exists")
    old_end = contract.schedule().end
    if cmd.term_end is not None:
        check_term(contract.term_start, cmd.term_end)
    first_affected = min(
        cmd.effective_at if cmd.capacity else old_end,
        min(old_end, cmd.term_end) if cmd.term_end is not None else cmd.effective_at,
    )
    check_tenant_books(state, contract, first_affected)
    amended = ev.ContractAmended(
        amendment_id=amendment_id, capacity=cmd.capacity, term_end=cmd.term_end
    )
    after: Contract = pending(contract, amended, cmd.effective_at)
    check_allocations(after)
    facility = require_facility(state, contract.facility)
    check_facility(facility, contract.contract_id, after.schedule())
    emit = Emit(ctx, reason)
    changed = ev.CapacityReservationChanged(
        contract_id=contract.contract_id,
        amendment_id=amendment_id,
        capacity=cmd.capacity,
        term_end=cmd.term_end,
    )
    return Decision(
        (
            emit(contract.stream_id, amended, cmd.effective_at),
            emit(facility.stream_id, changed, cmd.effective_at),
        ),
        {contract.stream_id: contract.version, facility.stream_id: facility.version},
        {"contract_id": contract.contract_id, "amendment_id": amendment_id},
    )


def terminate_contract(
    state: State, cmd: c.TerminateContract, ctx: Context, now: datetime
) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    reason = require_reason(cmd.reason, "to terminate a contract")
    require_signed(contract, "terminate")
    check_tenant_books(state, contract, cmd.effective_at)
    facility = require_facility(state, contract.facility)
    emit = Emit(ctx, reason)
    return Decision(
        (
            emit(contract.stream_id, ev.ContractTerminated(), cmd.effective_at),
            emit(
                facility.stream_id,
                ev.CapacityReservationReleased(contract_id=contract.contract_id),
                cmd.effective_at,
            ),
        ),
        {contract.stream_id: contract.version, facility.stream_id: facility.version},
        {"contract_id": contract.contract_id},
    )


def _positive(quantity: Decimal) -> None:
    if quantity <= 0:
        raise InvalidInput(
            "quantity must be positive", [FieldError(("quantity",), "must be greater than 0")]
        )


def allocate_capacity(
    state: State, cmd: c.AllocateCapacity, ctx: Context, now: datetime
) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    _positive(cmd.quantity)
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    require_signed(contract, "allocate under")
    if cmd.until is not None and cmd.until <= effective_at:
        raise RuleViolation(
            "term_invalid", "an allocation's until must be after its effective_at", at=cmd.until
        )
    schedule = contract.schedule()
    if effective_at >= schedule.end_in_force or (
        cmd.until is not None and cmd.until <= schedule.start
    ):
        raise RuleViolation(
            "term_invalid",
            f"the allocation lies outside contract {contract.contract_id}'s term",
            at=effective_at,
        )
    allocation_id = cmd.allocation_id or new_id("alc")
    if contract.allocation(allocation_id) is not None:
        raise RuleViolation("already_exists", f"allocation {allocation_id!r} already exists")
    check_tenant_books(state, contract, effective_at)
    event = ev.CapacityAllocated(
        allocation_id=allocation_id,
        workload=cmd.workload,
        resource=cmd.resource,
        quantity=cmd.quantity,
        until=cmd.until,
    )
    check_allocations(pending(contract, event, effective_at))
    return Decision(
        (Emit(ctx, reason)(contract.stream_id, event, effective_at),),
        {contract.stream_id: contract.version},
        {"contract_id": contract.contract_id, "allocation_id": allocation_id},
    )


def _allocation_change(
    state: State,
    contract_id: str,
    allocation_id: str,
    effective_at: datetime,
    ctx: Context,
    action: str,
) -> Contract:
    contract = require_contract(state, contract_id, ctx)
    allocation = contract.allocation(allocation_id)
    if allocation is None:
        raise NotFound("allocation", allocation_id)
    require_signed(contract, f"{action} an allocation of")
    released_at = allocation.released_at
    if released_at is not None and (action == "release" or effective_at >= released_at):
        raise RuleViolation(
            "contract_state", f"allocation {allocation_id} is released from {released_at:%Y-%m-%d}"
        )
    if effective_at < allocation.start:
        raise RuleViolation(
            "term_invalid", f"allocation {allocation_id} starts later", at=effective_at
        )
    check_tenant_books(state, contract, effective_at)
    return contract


def resize_allocation(
    state: State, cmd: c.ResizeAllocation, ctx: Context, now: datetime
) -> Decision:
    effective_at = cmd.effective_at or now
    reason = require_reason(cmd.reason, "to resize an allocation")
    _positive(cmd.quantity)
    contract = _allocation_change(
        state, cmd.contract_id, cmd.allocation_id, effective_at, ctx, "resize"
    )
    event = ev.AllocationResized(allocation_id=cmd.allocation_id, quantity=cmd.quantity)
    check_allocations(pending(contract, event, effective_at))
    return Decision(
        (Emit(ctx, reason)(contract.stream_id, event, effective_at),),
        {contract.stream_id: contract.version},
        {"contract_id": contract.contract_id, "allocation_id": cmd.allocation_id},
    )


def release_allocation(
    state: State, cmd: c.ReleaseAllocation, ctx: Context, now: datetime
) -> Decision:
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    contract = _allocation_change(
        state, cmd.contract_id, cmd.allocation_id, effective_at, ctx, "release"
    )
    event = ev.AllocationReleased(allocation_id=cmd.allocation_id)
    return Decision(
        (Emit(ctx, reason)(contract.stream_id, event, effective_at),),
        {contract.stream_id: contract.version},
        {"contract_id": contract.contract_id, "allocation_id": cmd.allocation_id},
    )


def _scaled(value: Decimal, factor: Decimal, effective_at: datetime) -> Decimal:
    try:
        return bounded(exact.multiply(value, factor))
    except OutOfRange as exc:
        raise RuleViolation(
            "limit_invalid", f"{value} scaled by {factor} is out of range: {exc}", at=effective_at
        ) from None


def change_limit(state: State, cmd: c.ChangeLimit, ctx: Context, now: datetime) -> Decision:
    reason = require_reason(cmd.reason, "for a limit change")
    tenant = require_party(state, cmd.tenant, "tenant")
    effective_at = cmd.effective_at or now
    if cmd.until is not None and cmd.until <= effective_at:
        raise RuleViolation(
            "term_invalid", "a temporary limit's until must be after its effective_at", at=cmd.until
        )
    value: Decimal | None = None
    unlimited = False
    if cmd.operation == "set":
        if cmd.value is None or cmd.factor is not None:
            raise InvalidInput(
                "set takes a value and no factor", [FieldError(("value",), "required for set")]
            )
        if cmd.value < 0:
            raise RuleViolation(
                "limit_invalid", "limit values must be >= 0 (or unlimited)", at=effective_at
            )
        value = cmd.value
    elif cmd.operation == "scale":
        if cmd.factor is None or cmd.value is not None:
            raise InvalidInput(
                "scale takes a factor and no value", [FieldError(("factor",), "required for scale")]
            )
        if cmd.factor <= 0:
            raise RuleViolation("limit_invalid", "scale factors must be > 0", at=effective_at)
        base = tenant.limit_at(cmd.plan, cmd.limit, effective_at)
        if base is None:
            raise RuleViolation(
                "limit_invalid",
                f"no {cmd.plan}/{cmd.limit} limit is in force to scale",
                at=effective_at,
            )
        unlimited = base.unlimited
        value = None if base.value is None else _scaled(base.value, cmd.factor, effective_at)
    else:
        if cmd.value is not None or cmd.factor is not None:
            raise InvalidInput("remove takes neither value nor factor")
        unlimited = True
    check_open_period(tenant, effective_at)
    event = ev.LimitChanged(
        plan=cmd.plan,
        limit=cmd.limit,
        operation=cmd.operation,
        value=value,
        unlimited=unlimited,
        factor=cmd.factor,
        until=cmd.until,
    )
    return Decision(
        (Emit(ctx, reason)(tenant.stream_id, event, effective_at),),
        {tenant.stream_id: tenant.version},
        {"tenant": tenant.party_id, "plan": cmd.plan, "limit": cmd.limit},
    )


def close_period(state: State, cmd: c.ClosePeriod, ctx: Context, now: datetime) -> Decision:
    tenant = require_party(state, cmd.tenant, "tenant")
    if tenant.closed_through is not None and cmd.through <= tenant.closed_through:
        raise RuleViolation(
            "period_closed", "the books are already closed through a later date", at=cmd.through
        )
    return Decision(
        (Emit(ctx, cmd.reason)(tenant.stream_id, ev.PeriodClosed(through=cmd.through), now),),
        {tenant.stream_id: tenant.version},
        {"tenant": tenant.party_id, "closed_through": cmd.through},
    )


def reopen_period(state: State, cmd: c.ReopenPeriod, ctx: Context, now: datetime) -> Decision:
    reason = require_reason(cmd.reason, "to reopen a closed period")
    tenant = require_party(state, cmd.tenant, "tenant")
    if tenant.closed_through is None or cmd.through >= tenant.closed_through:
        raise RuleViolation(
            "period_closed", "the books are not closed past that date", at=cmd.through
        )
    return Decision(
        (Emit(ctx, reason)(tenant.stream_id, ev.PeriodReopened(through=cmd.through), now),),
        {tenant.stream_id: tenant.version},
        {"tenant": tenant.party_id, "closed_through": cmd.through},
    )


C = TypeVar("C", bound=c.Command)
Handler = Callable[[State, Any, Context, datetime], Decision]

HANDLERS: dict[type[c.Command], Handler] = {
    c.RegisterParty: register_party,
    c.RegisterFacility: register_facility,
    c.ChangeFacilityCapacity: change_facility_capacity,
    c.DraftContract: draft_contract,
    c.ReviseDraft: revise_draft,
    c.VoidContract: void_contract,
    c.SignContract: sign_contract,
    c.AmendContract: amend_contract,
    c.TerminateContract: terminate_contract,
    c.AllocateCapacity: allocate_capacity,
    c.ResizeAllocation: resize_allocation,
    c.ReleaseAllocation: release_allocation,
    c.ChangeLimit: change_limit,
    c.ClosePeriod: close_period,
    c.ReopenPeriod: reopen_period,
}


Respond = Callable[[Connection, Outcome], Response]
"""Renders a command's answer from the state it left, inside its transaction."""

Refusal = NotFound | RuleViolation
"""What the domain decides against a request, as opposed to failing to decide (a version
conflict, a busy ledger): an idempotent request's refusal is its answer, kept like a success."""

Refuse = Callable[[Refusal], Response]
"""Renders a refusal."""


def default_response(_conn: Connection, outcome: Outcome) -> Response:
    return 201, orjson.dumps({**outcome.result, "position": outcome.position}, default=str).decode()


def _remember(
    uow: UnitOfWork, request: IdempotencyRequest, response: Response, position: int | None
) -> None:
    status, body = response
    uow.remember_idempotent(
        IdempotencyRecord(request.scope, request.key, request.fingerprint, status, body, position)
    )


def execute(
    ledger: Ledger,
    command: c.Command,
    ctx: Context | None = None,
    respond: Respond | None = None,
    attempts: int = 5,
    refuse: Refuse | None = None,
) -> Outcome:
    """Run `command` in one unit of work (see module docstring).

    With `respond` (or an idempotency key) the answer is rendered in the same transaction,
    so what an idempotent replay returns is exactly what the first call returned. With an
    idempotency key and `refuse`, a refusal is an answer too: rendered, remembered with the
    key and returned (`Outcome.refused`), not raised, so that a repeat gets it again
    rather than a different answer from a ledger that has moved on.
    """
    ctx = ctx or Context()
    handler = HANDLERS[type(command)]
    render = respond or (default_response if ctx.idempotency is not None else None)

    def attempt(uow: UnitOfWork) -> Outcome:
        if ctx.idempotency is not None:
            seen = uow.find_idempotent(
                ctx.idempotency.scope, ctx.idempotency.key, ctx.idempotency.fingerprint
            )
            if seen is not None:
                return Outcome(
                    result={},
                    position=seen.position,
                    replayed=seen,
                    response=(seen.status_code, seen.response),
                )
        try:
            decision = handler(State(uow), command, ctx, ledger.clock())
        except (NotFound, RuleViolation) as refusal:
            if ctx.idempotency is None or refuse is None:
                raise
            response = refuse(refusal)
            _remember(uow, ctx.idempotency, response, None)
            return Outcome(result={}, response=response, refused=refusal)
        if ctx.dry_run and render is None:
            return Outcome(result=decision.result, planned=decision.events)
        recorded = tuple(uow.append(decision.events, decision.expected))
        outcome = Outcome(result=decision.result, events=recorded, position=recorded[-1].position)
        if render is None:
            return outcome
        outcome = dataclasses.replace(outcome, response=render(uow.conn, outcome))
        if ctx.dry_run:
            # Rendered from the events appended in a transaction that is rolled back: the
            # answer the write would give, of which nothing stays.
            return Outcome(
                result=decision.result, planned=decision.events, response=outcome.response
            )
        if ctx.idempotency is not None:
            assert outcome.response is not None
            _remember(uow, ctx.idempotency, outcome.response, outcome.position)
        return outcome

    if ctx.expected_version is not None:
        # A pinned version is not retried: the conflict is the answer. Unless the request
        # has an idempotency key: the writer it lost to may have been its own first copy,
        # and the one retry replays that copy's answer (or conflicts again, and answers so).
        attempts = 1 if ctx.idempotency is None else 2
    return ledger.run(attempt, attempts=attempts, commit=not ctx.dry_run)
