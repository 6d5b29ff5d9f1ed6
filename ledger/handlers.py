"""Command handlers and their dispatch table.

Each handler loads the states its command reads (`State`), hands them to the command's
pure `decide_*` function in `ledger.domain.decisions`, and turns what it decided into a
`Decision`: the events with the request's metadata, and the version each stream must
still be at. `ledger.service.execute` appends it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.domain import commands as c
from ledger.domain.contract import Contract
from ledger.domain.decisions.allocation import (
    decide_allocate_capacity,
    decide_release_allocation,
    decide_resize_allocation,
)
from ledger.domain.decisions.contract import (
    Counterparties,
    decide_amend_contract,
    decide_draft_contract,
    decide_revise_draft,
    decide_sign_contract,
    decide_terminate_contract,
    decide_void_contract,
    revised_counterparties,
)
from ledger.domain.decisions.facility import (
    decide_change_facility_capacity,
    decide_register_facility,
)
from ledger.domain.decisions.party import (
    decide_change_limit,
    decide_close_period,
    decide_register_party,
    decide_reopen_period,
)
from ledger.domain.rules import Decided
from ledger.errors import ConcurrencyError, NotFound
from ledger.events import Metadata, NewEvent
from ledger.service.context import Context
from ledger.service.state import State
from ledger.store import ExpectedVersion


@dataclass(frozen=True)
class Decision:
    events: tuple[NewEvent, ...]
    expected: Mapping[str, ExpectedVersion]
    result: Mapping[str, Any] = field(default_factory=dict)


# -- loading ---------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def require_in_scope(ctx: Context, tenant: str, kind: str = "tenant") -> None:
    """A caller scoped to one tenant finds no other: NotFound, as if it did not exist."""
    if ctx.tenant_scope is not None and tenant != ctx.tenant_scope:
        raise NotFound(kind, tenant)


def require_contract(state: State, contract_id: str, ctx: Context) -> Contract:
    contract = state.contract(contract_id)
    if contract is None or (ctx.tenant_scope not in (None, contract.tenant)):
        # Another tenant's contract is answered as absent, before its version is compared:
        # a conflict would tell the caller it exists.
        raise NotFound("contract", contract_id)
    if ctx.expected_version is not None and ctx.expected_version != contract.version:
        raise ConcurrencyError(contract.stream_id, ctx.expected_version, contract.version)
    return contract


def counterparties(state: State, provider: str, tenant: str, facility: str) -> Counterparties:
    return Counterparties(
        provider,
        state.party(provider),
        tenant,
        state.party(tenant),
        facility,
        state.facility(facility),
    )


def decision(state: State, decided: Decided, ctx: Context) -> Decision:
    """The events of `decided` with the request's metadata, each stream expected at the
    version this unit of work loaded it at (a stream it found empty: not yet existing)."""
    metadata = Metadata(
        actor=ctx.actor,
        source=ctx.source,
        reason=decided.reason,
        correlation_id=ctx.correlation_id,
        idempotency_key=ctx.idempotency.key if ctx.idempotency else None,
    )
    events = tuple(
        NewEvent(change.stream_id, change.event, change.effective_at, metadata)
        for change in decided.changes
    )
    expected = {change.stream_id: state.expected(change.stream_id) for change in decided.changes}
    return Decision(events, expected, decided.result)


# -- handlers: load, decide ------------------------------------------------------------------


def register_party(state: State, cmd: c.RegisterParty, ctx: Context, now: datetime) -> Decision:
    return decision(state, decide_register_party(state.party(cmd.party_id), cmd, now), ctx)


def register_facility(
    state: State, cmd: c.RegisterFacility, ctx: Context, now: datetime
) -> Decision:
    provider, existing = state.party(cmd.provider), state.facility(cmd.facility_id)
    return decision(state, decide_register_facility(provider, existing, cmd, now), ctx)


def change_facility_capacity(
    state: State, cmd: c.ChangeFacilityCapacity, ctx: Context, now: datetime
) -> Decision:
    facility = state.facility(cmd.facility_id)
    return decision(state, decide_change_facility_capacity(facility, cmd, now), ctx)


def draft_contract(state: State, cmd: c.DraftContract, ctx: Context, now: datetime) -> Decision:
    require_in_scope(ctx, cmd.tenant, "party")
    contract_id = cmd.contract_id or new_id("ctr")
    named = counterparties(state, cmd.provider, cmd.tenant, cmd.facility)
    existing = state.contract(contract_id)
    return decision(state, decide_draft_contract(existing, named, cmd, contract_id, now), ctx)


def revise_draft(state: State, cmd: c.ReviseDraft, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    provider, tenant, facility = revised_counterparties(contract, cmd)
    require_in_scope(ctx, tenant, "party")
    named = counterparties(state, provider, tenant, facility)
    return decision(state, decide_revise_draft(contract, named, cmd, now), ctx)


def void_contract(state: State, cmd: c.VoidContract, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    return decision(state, decide_void_contract(contract, cmd, now), ctx)


def sign_contract(state: State, cmd: c.SignContract, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    books = state.closed_through(contract.tenant)
    facility = state.facility(contract.facility)
    return decision(state, decide_sign_contract(contract, facility, books, cmd, now), ctx)


def amend_contract(state: State, cmd: c.AmendContract, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    books = state.closed_through(contract.tenant)
    facility = state.facility(contract.facility)
    amendment_id = cmd.amendment_id or new_id("amd")
    decided = decide_amend_contract(contract, facility, books, cmd, amendment_id, now)
    return decision(state, decided, ctx)


def terminate_contract(
    state: State, cmd: c.TerminateContract, ctx: Context, now: datetime
) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    books = state.closed_through(contract.tenant)
    facility = state.facility(contract.facility)
    return decision(state, decide_terminate_contract(contract, facility, books, cmd, now), ctx)


def allocate_capacity(
    state: State, cmd: c.AllocateCapacity, ctx: Context, now: datetime
) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    books = state.closed_through(contract.tenant)
    allocation_id = cmd.allocation_id or new_id("alc")
    decided = decide_allocate_capacity(contract, books, cmd, allocation_id, now)
    return decision(state, decided, ctx)


def resize_allocation(
    state: State, cmd: c.ResizeAllocation, ctx: Context, now: datetime
) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    books = state.closed_through(contract.tenant)
    return decision(state, decide_resize_allocation(contract, books, cmd, now), ctx)


def release_allocation(
    state: State, cmd: c.ReleaseAllocation, ctx: Context, now: datetime
) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    books = state.closed_through(contract.tenant)
    return decision(state, decide_release_allocation(contract, books, cmd, now), ctx)


def change_limit(state: State, cmd: c.ChangeLimit, ctx: Context, now: datetime) -> Decision:
    require_in_scope(ctx, cmd.tenant)
    return decision(state, decide_change_limit(state.party(cmd.tenant), cmd, now), ctx)


def close_period(state: State, cmd: c.ClosePeriod, ctx: Context, now: datetime) -> Decision:
    require_in_scope(ctx, cmd.tenant)
    return decision(state, decide_close_period(state.party(cmd.tenant), cmd, now), ctx)


def reopen_period(state: State, cmd: c.ReopenPeriod, ctx: Context, now: datetime) -> Decision:
    require_in_scope(ctx, cmd.tenant)
    return decision(state, decide_reopen_period(state.party(cmd.tenant), cmd, now), ctx)


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
