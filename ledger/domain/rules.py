"""The checks decisions share, and what a decision returns: pure functions of states and
commands that raise a typed refusal (`RuleViolation`, `NotFound`, `InvalidInput`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from ledger.domain.aggregates import Aggregate
from ledger.domain.capacity import CapacitySchedule
from ledger.domain.contract import ACTIONS, Contract
from ledger.domain.events import CapacityLine
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.errors import FieldError, InvalidInput, NotFound, RuleViolation
from ledger.events import Event
from ledger.timeline import exceeds

BACKDATING_TOLERANCE = timedelta(minutes=1)
"""A change effective further in the past than this is backdated and needs a reason."""

PENDING = 2**62
"""Stands in for the position of an event not yet appended (it sorts after all others)."""


@dataclass(frozen=True)
class Change:
    """One event a decision appends, to the stream it belongs to, from its business time."""

    stream_id: str
    event: Event
    effective_at: datetime


@dataclass(frozen=True)
class Decided:
    """What a command comes to: the events to append, in order, the reason they are
    recorded with, and the ids the caller learns (a generated contract id, say)."""

    changes: tuple[Change, ...]
    reason: str | None
    result: Mapping[str, Any] = field(default_factory=dict)


A = TypeVar("A", bound=Aggregate)


def pending(state: A, event: Event, effective_at: datetime) -> A:
    """`state` as it would be after `event`, to check invariants before appending."""
    return cast(A, state.apply(event, effective_at, PENDING))


# -- existence ---------------------------------------------------------------------------


def require_party(party: Party | None, party_id: str, role: str) -> Party:
    if party is None:
        raise NotFound("party", party_id)
    if role not in party.roles:
        raise RuleViolation("party_role", f"party {party_id!r} is not a {role}")
    return party


def require_facility(facility: Facility | None, facility_id: str) -> Facility:
    if facility is None:
        raise NotFound("facility", facility_id)
    return facility


# -- reasons -------------------------------------------------------------------------------


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


# -- values --------------------------------------------------------------------------------


def check_term(start: datetime, end: datetime) -> None:
    if not start < end:
        raise RuleViolation(
            "term_invalid", f"term start {start:%Y-%m-%dT%H:%M:%SZ} is not before its end", at=start
        )


def check_lines(lines: tuple[CapacityLine, ...]) -> None:
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.resource in seen:
            raise InvalidInput(
                f"resource {line.resource!r} is listed twice",
                [FieldError(("capacity", index, "resource"), "duplicate resource")],
            )
        seen.add(line.resource)


def check_units(lines: tuple[CapacityLine, ...], units: Mapping[str, str]) -> None:
    """A unit belongs to its resource: a line may not measure a resource in another unit
    than the one it was first given in (120,000 would no longer mean what it meant)."""
    for index, line in enumerate(lines):
        unit = units.get(line.resource)
        if unit is not None and line.unit != unit:
            raise InvalidInput(
                f"resource {line.resource!r} is measured in {unit!r}, not {line.unit!r}",
                [FieldError(("capacity", index, "unit"), f"must be {unit!r}")],
            )


def check_positive(quantity: Decimal) -> None:
    if quantity <= 0:
        raise InvalidInput(
            "quantity must be positive", [FieldError(("quantity",), "must be greater than 0")]
        )


# -- invariants ----------------------------------------------------------------------------

_PARTICIPLES = {"revise": "revised", "void": "voided", "sign": "signed"}
_PHRASES = {
    "allocate": "allocate under",
    "resize": "resize an allocation of",
    "release": "release an allocation of",
}


def require_action(contract: Contract, action: str) -> None:
    """Invariant 2, as `ACTIONS` states it (the admin offers its buttons from it too)."""
    if action in ACTIONS.get(contract.lifecycle, frozenset()):
        return
    doing = f"cannot {_PHRASES.get(action, action)} contract {contract.contract_id}"
    if action in ACTIONS["draft"]:
        raise RuleViolation("contract_state", f"{doing}: only drafts can be {_PARTICIPLES[action]}")
    raise RuleViolation("contract_state", f"{doing}: it is {contract.lifecycle}")


def check_books(party_id: str, closed: datetime | None, first_affected: datetime) -> None:
    """Closed periods: nothing changes a business instant the party's books are closed over."""
    if closed is not None and first_affected < closed:
        raise RuleViolation(
            "period_closed",
            f"the books of {party_id!r} are closed through {closed:%Y-%m-%dT%H:%M:%SZ}",
            at=first_affected,
        )


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
    """Invariant 4: at every instant, per resource, reservations <= facility capacity.
    `schedule` replaces what `contract_id` reserves (None: only what is reserved now)."""
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
