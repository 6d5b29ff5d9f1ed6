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
from datetime import datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Connection

from ledger.domain import commands as c
from ledger.domain import contract as contracts
from ledger.domain import events as ev
from ledger.domain import facility as facilities
from ledger.domain import party as parties
from ledger.domain.aggregates import Aggregate, fold
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
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.domain.rules import Decided
from ledger.errors import ConcurrencyError, NotFound, RuleViolation
from ledger.events import Metadata, NewEvent, RecordedEvent, Source
from ledger.idempotency import IdempotencyRecord
from ledger.snapshots import Snapshot
from ledger.store import NO_STREAM, ExpectedVersion
from ledger.unit_of_work import Ledger, UnitOfWork

SNAPSHOT_FROM_VERSION = 32
"""Streams shorter than this are folded from their start on every load: refolding a few
events costs less than keeping their states alive (measured: snapshots of every 5-event
contract slowed a command cycle by 5-10%; the garbage collector walking the kept states is
my guess at why)."""


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
        self._versions: dict[str, int] = {}

    def expected(self, stream_id: str) -> ExpectedVersion:
        """The version `stream_id` was loaded at, which an append to it must still find."""
        version = self._versions[stream_id]  # a decision appends only to what it loaded
        return version if version else NO_STREAM

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
        self._versions[stream_id] = 0 if state is None else state.version
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


# -- loading ---------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def require_contract(state: State, contract_id: str, ctx: Context) -> Contract:
    contract = state.contract(contract_id)
    if contract is None:
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
    contract_id = cmd.contract_id or new_id("ctr")
    named = counterparties(state, cmd.provider, cmd.tenant, cmd.facility)
    existing = state.contract(contract_id)
    return decision(state, decide_draft_contract(existing, named, cmd, contract_id, now), ctx)


def revise_draft(state: State, cmd: c.ReviseDraft, ctx: Context, now: datetime) -> Decision:
    contract = require_contract(state, cmd.contract_id, ctx)
    named = counterparties(state, *revised_counterparties(contract, cmd))
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
    return decision(state, decide_change_limit(state.party(cmd.tenant), cmd, now), ctx)


def close_period(state: State, cmd: c.ClosePeriod, ctx: Context, now: datetime) -> Decision:
    return decision(state, decide_close_period(state.party(cmd.tenant), cmd, now), ctx)


def reopen_period(state: State, cmd: c.ReopenPeriod, ctx: Context, now: datetime) -> Decision:
    return decision(state, decide_reopen_period(state.party(cmd.tenant), cmd, now), ctx)


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
