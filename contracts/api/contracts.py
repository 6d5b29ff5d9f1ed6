from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from sqlalchemy import Connection

from contracts.api import writes
from contracts.api.auth import narrowed_tenant, require, require_tenant
from contracts.api.common import (
    ERRORS,
    capacity_lines,
    decode_cursor,
    encode_cursor,
    now,
    path_id,
    reading,
)
from contracts.api.events import stream_out
from contracts.api.schemas import (
    AllocationIn,
    AmendmentIn,
    ContractDryRun,
    ContractFilters,
    ContractIn,
    ContractPage,
    ContractWriteOut,
    ReleaseIn,
    ResizeIn,
    ReviseIn,
    SignIn,
    StreamOut,
    TerminateIn,
    TimeTravel,
    VoidIn,
)
from contracts.runtime import get_ledger
from ledger import read
from ledger.apikeys import ApiKey
from ledger.domain import commands as c
from ledger.domain import contract as contracts_domain
from ledger.domain.events import ClearableDraftField, Term
from ledger.errors import FieldError, InvalidInput, NotFound
from ledger.read import ContractView, directory
from ledger.service import Accepted

ContractAnswer = ContractWriteOut | ContractDryRun
"""A write's answer, or its dry run's."""

router = Router(tags=["contracts"])

WRITE = "contracts:write"
CLEARABLE = get_args(ClearableDraftField)
READ = "contracts:read"


def _render(contract_id: str) -> writes.Render:
    def render(conn: Connection, outcome: Accepted) -> ContractWriteOut:
        view = read.contract(conn, contract_id, now())
        return ContractWriteOut(
            **view.model_dump(),
            position=outcome.position,
            amendment_id=outcome.result.get("amendment_id"),
            allocation_id=outcome.result.get("allocation_id"),
        )

    return render


def _visible_contract(key: ApiKey, contract_id: str) -> None:
    """404 for a contract that does not exist or that the key's tenant does not hold."""
    with reading() as conn:
        tenant = directory.contract_tenant(conn, contract_id)
    if tenant is None:
        raise NotFound("contract", contract_id)
    require_tenant(key, tenant, "contract", contract_id)


def _change(
    request: HttpRequest,
    contract_id: str,
    command: Callable[[], c.Command],
    *,
    status: int = 200,
    dry_run: bool,
) -> HttpResponse:
    """A write on an existing contract: scope and If-Match first, then the command (built
    only then, so a bad id cannot answer before a missing scope does). Whether the key's
    tenant holds the contract is checked by the command's own load of it."""
    key = require(request, WRITE)
    path_id("contract", contract_id)
    pinned = writes.pinned_version(request)
    return writes.run(
        request,
        key,
        command(),
        _render(contract_id),
        status=status,
        dry_run=dry_run,
        pinned=pinned,
        etag=True,
    )


@router.post("/contracts", response={201: ContractAnswer, **ERRORS})
def draft_contract(request: HttpRequest, body: ContractIn, dry_run: bool = False) -> HttpResponse:
    key = require(request, WRITE)
    require_tenant(key, body.tenant, "party", body.tenant)
    if key.tenant is not None and body.id is not None:
        # Contract ids are one namespace across tenants: "already exists" would tell a bound
        # key that another tenant holds that id, which it must not be able to learn.
        raise InvalidInput(
            "a key bound to a tenant cannot choose a contract's id; one is generated",
            [FieldError(("body", "id"), "not allowed for a tenant-bound key")],
        )
    _require_visible_provider(key, body.provider, body.facility)
    command = c.DraftContract(
        contract_id=body.id,
        provider=body.provider,
        tenant=body.tenant,
        facility=body.facility,
        title=body.title,
        reference=body.reference,
        term=Term(start=body.term.start, end=body.term.end),
        capacity=capacity_lines(body.capacity),
        commercial_terms=body.commercial_terms,
    )

    def render(conn: Connection, outcome: Accepted) -> Any:
        return _render(str(outcome.result["contract_id"]))(conn, outcome)

    return writes.run(request, key, command, render, dry_run=dry_run, etag=True)


def _require_visible_provider(
    key: ApiKey, provider: str | None, facility: str | None, contract_id: str | None = None
) -> None:
    """A tenant-bound key sees a provider through the facility it owns (every facility
    shows its provider) and no other party: naming any other as the provider of a contract
    at `facility` (or, for a revision that keeps it, the draft's) answers 404, as a missing
    party does. The domain's refusals ("not a provider", "the facility belongs to another")
    would tell the key which other tenants exist."""
    if key.tenant is None or provider is None or provider == key.tenant:
        return
    if contract_id is not None:
        _visible_contract(key, contract_id)  # before anything is said about its facility
    with reading() as conn:
        if facility is None and contract_id is not None:
            facility = directory.contract_facility(conn, contract_id)
        if facility is None:
            return  # no such contract: the write answers 404 for it
        owner = directory.facility_provider(conn, facility)
    if owner is None:
        raise NotFound("facility", facility)  # facilities are public, their absence too
    if owner != provider:
        raise NotFound("party", provider)


@router.get("/contracts", response={200: ContractPage, **ERRORS})
def list_contracts(request: HttpRequest, filters: Query[ContractFilters]) -> ContractPage:
    key = require(request, READ)
    tenant = narrowed_tenant(key, filters.tenant)
    wanted = {
        column: value
        for column, value in (
            ("tenant", tenant),
            ("provider", filters.provider),
            ("facility", filters.facility),
        )
        if value is not None
    }
    with reading() as conn:
        items = read.contracts(
            conn,
            filters.as_of or now(),
            filters.known_at,
            status=filters.status,
            after=decode_cursor(filters.cursor),
            limit=filters.limit + 1,
            **wanted,
        )
    more = len(items) > filters.limit
    items = items[: filters.limit]
    return ContractPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/contracts/{contract_id}", response={200: ContractView, **ERRORS})
def get_contract(
    request: HttpRequest, response: HttpResponse, contract_id: str, at: Query[TimeTravel]
) -> ContractView:
    key = require(request, READ)
    with reading() as conn:
        view = read.contract(conn, contract_id, at.as_of or now(), at.known_at)
    require_tenant(key, view.tenant, "contract", contract_id)
    response["ETag"] = f'"{view.version}"'
    return view


@router.get("/contracts/{contract_id}/events", response={200: StreamOut, **ERRORS})
def contract_events(request: HttpRequest, contract_id: str) -> StreamOut:
    key = require(request, READ)
    _visible_contract(key, contract_id)
    stream_id = contracts_domain.stream_id(contract_id)
    with reading() as conn:
        records = get_ledger().store.read_stream(conn, stream_id)
    return stream_out(stream_id, records)


@router.post("/contracts/{contract_id}/revise", response={200: ContractAnswer, **ERRORS})
def revise_draft(
    request: HttpRequest, contract_id: str, body: ReviseIn, dry_run: bool = False
) -> HttpResponse:
    key = require(request, WRITE)
    if body.tenant is not None:
        require_tenant(key, body.tenant, "party", body.tenant)
    _require_visible_provider(key, body.provider, body.facility, contract_id)
    # An explicit null clears an optional field (as in a JSON merge patch); the required
    # ones cannot be cleared. An absent field is left as it is.
    nulled = sorted(name for name in body.model_fields_set if getattr(body, name) is None)
    required = [name for name in nulled if name not in CLEARABLE]
    if required:
        raise InvalidInput(
            f"a contract cannot be without its {', '.join(required)}",
            [FieldError(("body", name), "cannot be cleared") for name in required],
        )
    return _change(
        request,
        contract_id,
        lambda: c.ReviseDraft(
            contract_id=contract_id,
            cleared=tuple(nulled),
            provider=body.provider,
            tenant=body.tenant,
            facility=body.facility,
            title=body.title,
            reference=body.reference,
            term=None if body.term is None else Term(start=body.term.start, end=body.term.end),
            capacity=None if body.capacity is None else capacity_lines(body.capacity),
            commercial_terms=body.commercial_terms,
        ),
        dry_run=dry_run,
    )


@router.post("/contracts/{contract_id}/void", response={200: ContractAnswer, **ERRORS})
def void_contract(
    request: HttpRequest, contract_id: str, body: VoidIn, dry_run: bool = False
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.VoidContract(
            contract_id=contract_id, reason=body.reason, effective_at=body.effective_at
        ),
        dry_run=dry_run,
    )


@router.post("/contracts/{contract_id}/sign", response={200: ContractAnswer, **ERRORS})
def sign_contract(
    request: HttpRequest, contract_id: str, body: SignIn, dry_run: bool = False
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.SignContract(
            contract_id=contract_id,
            signed_by=tuple(body.signed_by),
            effective_at=body.effective_at,
            reason=body.reason,
        ),
        dry_run=dry_run,
    )


@router.post(
    "/contracts/{contract_id}/amendments",
    response={201: ContractAnswer, **ERRORS},
)
def amend_contract(
    request: HttpRequest, contract_id: str, body: AmendmentIn, dry_run: bool = False
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.AmendContract(
            contract_id=contract_id,
            amendment_id=body.amendment_id,
            effective_at=body.effective_at,
            capacity=capacity_lines(body.capacity),
            term_end=body.term_end,
            reason=body.reason,
        ),
        status=201,
        dry_run=dry_run,
    )


@router.post(
    "/contracts/{contract_id}/terminate",
    response={200: ContractAnswer, **ERRORS},
)
def terminate_contract(
    request: HttpRequest, contract_id: str, body: TerminateIn, dry_run: bool = False
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.TerminateContract(
            contract_id=contract_id, effective_at=body.effective_at, reason=body.reason
        ),
        dry_run=dry_run,
    )


@router.post(
    "/contracts/{contract_id}/allocations",
    response={201: ContractAnswer, **ERRORS},
)
def allocate_capacity(
    request: HttpRequest, contract_id: str, body: AllocationIn, dry_run: bool = False
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.AllocateCapacity(contract_id=contract_id, **body.model_dump()),
        status=201,
        dry_run=dry_run,
    )


@router.post(
    "/contracts/{contract_id}/allocations/{allocation_id}/resize",
    response={200: ContractAnswer, **ERRORS},
)
def resize_allocation(
    request: HttpRequest,
    contract_id: str,
    allocation_id: str,
    body: ResizeIn,
    dry_run: bool = False,
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.ResizeAllocation(
            contract_id=contract_id,
            allocation_id=path_id("allocation", allocation_id),
            **body.model_dump(),
        ),
        dry_run=dry_run,
    )


@router.post(
    "/contracts/{contract_id}/allocations/{allocation_id}/release",
    response={200: ContractAnswer, **ERRORS},
)
def release_allocation(
    request: HttpRequest,
    contract_id: str,
    allocation_id: str,
    body: ReleaseIn,
    dry_run: bool = False,
) -> HttpResponse:
    return _change(
        request,
        contract_id,
        lambda: c.ReleaseAllocation(
            contract_id=contract_id,
            allocation_id=path_id("allocation", allocation_id),
            **body.model_dump(),
        ),
        dry_run=dry_run,
    )
