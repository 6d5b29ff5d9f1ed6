"""Decisions on the allocations a signed contract holds: allocating, resizing, releasing."""

from __future__ import annotations

from datetime import datetime

from ledger.domain import commands as c
from ledger.domain import events as ev
from ledger.domain.contract import Contract
from ledger.domain.rules import (
    Change,
    Decided,
    check_allocations,
    check_books,
    check_positive,
    pending,
    reason_if_backdated,
    require_action,
    require_reason,
)
from ledger.errors import NotFound, RuleViolation


def decide_allocate_capacity(
    contract: Contract,
    books: datetime | None,
    cmd: c.AllocateCapacity,
    allocation_id: str,
    now: datetime,
) -> Decided:
    """`books`: where the tenant's books are closed through; `allocation_id` the
    command's, or one generated for it."""
    check_positive(cmd.quantity)
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    require_action(contract, "allocate")
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
    if contract.allocation(allocation_id) is not None:
        raise RuleViolation("already_exists", f"allocation {allocation_id!r} already exists")
    check_books(contract.tenant, books, effective_at)
    event = ev.CapacityAllocated(
        allocation_id=allocation_id,
        workload=cmd.workload,
        resource=cmd.resource,
        quantity=cmd.quantity,
        until=cmd.until,
    )
    check_allocations(pending(contract, event, effective_at))
    return Decided(
        (Change(contract.stream_id, event, effective_at),),
        reason,
        {"contract_id": contract.contract_id, "allocation_id": allocation_id},
    )


def _check_change(
    contract: Contract,
    books: datetime | None,
    allocation_id: str,
    effective_at: datetime,
    action: str,
) -> None:
    allocation = contract.allocation(allocation_id)
    if allocation is None:
        raise NotFound("allocation", allocation_id)
    require_action(contract, action)
    released_at = allocation.released_at
    if released_at is not None and (action == "release" or effective_at >= released_at):
        raise RuleViolation(
            "contract_state", f"allocation {allocation_id} is released from {released_at:%Y-%m-%d}"
        )
    if effective_at < allocation.start:
        raise RuleViolation(
            "term_invalid", f"allocation {allocation_id} starts later", at=effective_at
        )
    check_books(contract.tenant, books, effective_at)


def decide_resize_allocation(
    contract: Contract, books: datetime | None, cmd: c.ResizeAllocation, now: datetime
) -> Decided:
    effective_at = cmd.effective_at or now
    reason = require_reason(cmd.reason, "to resize an allocation")
    check_positive(cmd.quantity)
    _check_change(contract, books, cmd.allocation_id, effective_at, "resize")
    event = ev.AllocationResized(allocation_id=cmd.allocation_id, quantity=cmd.quantity)
    check_allocations(pending(contract, event, effective_at))
    return Decided(
        (Change(contract.stream_id, event, effective_at),),
        reason,
        {"contract_id": contract.contract_id, "allocation_id": cmd.allocation_id},
    )


def decide_release_allocation(
    contract: Contract, books: datetime | None, cmd: c.ReleaseAllocation, now: datetime
) -> Decided:
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    _check_change(contract, books, cmd.allocation_id, effective_at, "release")
    event = ev.AllocationReleased(allocation_id=cmd.allocation_id)
    return Decided(
        (Change(contract.stream_id, event, effective_at),),
        reason,
        {"contract_id": contract.contract_id, "allocation_id": cmd.allocation_id},
    )
