"""A tenant's limits, closed periods and entitlements: what billing reads and writes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from sqlalchemy import Connection

from contracts.api import writes
from contracts.api.auth import require, require_tenant
from contracts.api.common import ERRORS, now, path_id, reading
from contracts.api.schemas import (
    ChangesQuery,
    LimitDryRun,
    LimitIn,
    LimitsOut,
    LimitWriteOut,
    PeriodCloseIn,
    PeriodDryRun,
    PeriodReopenIn,
    PeriodsOut,
    PeriodWriteOut,
    TimelineOut,
    TimelineQuery,
    TimeTravel,
)
from ledger import read
from ledger.apikeys import ApiKey
from ledger.domain import commands as c
from ledger.read import Changes, Entitlements, directory
from ledger.service import Accepted

router = Router(tags=["tenants"])
# Answers by (tenant, projection set, position), each valid over a span of business time.
answers = read.AnswerCache()
"""Entitlement answers of this process (see `ledger.read.AnswerCache`)."""

READ = "entitlements:read"


def _tenant(request: HttpRequest, tenant: str, scope: str) -> ApiKey:
    key = require(request, scope)
    require_tenant(key, path_id("tenant", tenant), "tenant", tenant)
    return key


@router.post("/tenants/{tenant}/limits", response={201: LimitWriteOut | LimitDryRun, **ERRORS})
def change_limit(
    request: HttpRequest, tenant: str, body: LimitIn, dry_run: bool = False
) -> HttpResponse:
    key = _tenant(request, tenant, "limits:write")
    effective_at = body.effective_at or now()

    def render(conn: Connection, outcome: Accepted) -> LimitWriteOut:
        views = read.limits(conn, tenant, effective_at)
        view = next(v for v in views if (v.plan, v.limit) == (body.plan, body.limit))
        return LimitWriteOut(tenant=tenant, position=outcome.position, **view.model_dump())

    command = c.ChangeLimit(tenant=tenant, **{**body.model_dump(), "effective_at": effective_at})
    return writes.run(request, key, command, render, dry_run=dry_run)


@router.get("/tenants/{tenant}/limits", response={200: LimitsOut, **ERRORS})
def get_limits(request: HttpRequest, tenant: str, at: Query[TimeTravel]) -> LimitsOut:
    _tenant(request, tenant, READ)
    with reading() as conn:
        return LimitsOut(items=read.limits(conn, tenant, at.as_of or now(), at.known_at))


def _period_render(tenant: str) -> writes.Render:
    def render(conn: Connection, outcome: Accepted) -> PeriodWriteOut:
        closed = directory.closed_through(conn, tenant)
        return PeriodWriteOut(tenant=tenant, closed_through=closed, position=outcome.position)

    return render


@router.post(
    "/tenants/{tenant}/periods/close", response={201: PeriodWriteOut | PeriodDryRun, **ERRORS}
)
def close_period(
    request: HttpRequest, tenant: str, body: PeriodCloseIn, dry_run: bool = False
) -> HttpResponse:
    key = _tenant(request, tenant, "contracts:write")
    command = c.ClosePeriod(tenant=tenant, through=body.through, reason=body.reason)
    return writes.run(request, key, command, _period_render(tenant), dry_run=dry_run)


@router.post(
    "/tenants/{tenant}/periods/reopen", response={201: PeriodWriteOut | PeriodDryRun, **ERRORS}
)
def reopen_period(
    request: HttpRequest, tenant: str, body: PeriodReopenIn, dry_run: bool = False
) -> HttpResponse:
    key = _tenant(request, tenant, "contracts:write")
    command = c.ReopenPeriod(tenant=tenant, through=body.through, reason=body.reason)
    return writes.run(request, key, command, _period_render(tenant), dry_run=dry_run)


@router.get("/tenants/{tenant}/periods", response={200: PeriodsOut, **ERRORS})
def get_periods(request: HttpRequest, tenant: str) -> PeriodsOut:
    _tenant(request, tenant, READ)
    with reading() as conn:
        return PeriodsOut(tenant=tenant, closed_through=directory.closed_through(conn, tenant))


@router.get("/tenants/{tenant}/entitlements", response={200: Entitlements, **ERRORS})
def get_entitlements(request: HttpRequest, tenant: str, at: Query[TimeTravel]) -> HttpResponse:
    _tenant(request, tenant, READ)
    with reading() as conn:
        body = read.entitlements_json(conn, tenant, at.as_of or now(), at.known_at, answers)
    return HttpResponse(body, content_type="application/json")


@router.get("/tenants/{tenant}/entitlements/timeline", response={200: TimelineOut, **ERRORS})
def get_timeline(request: HttpRequest, tenant: str, query: Query[TimelineQuery]) -> TimelineOut:
    """The capacity step function over [from, to), per resource, for proration."""
    _tenant(request, tenant, READ)
    with reading() as conn:
        items = read.timeline(conn, tenant, query.from_, query.to, query.resource, query.known_at)
    return TimelineOut(items=items)


@router.get("/tenants/{tenant}/entitlements/changes", response={200: Changes, **ERRORS})
def get_changes(request: HttpRequest, tenant: str, query: Query[ChangesQuery]) -> Changes:
    """What changed since `since_position`, over business time: what billing re-bills."""
    _tenant(request, tenant, READ)
    with reading() as conn:
        return read.changes(conn, tenant, query.since_position, query.known_at)
