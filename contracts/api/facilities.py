from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from sqlalchemy import Connection

from contracts.api import writes
from contracts.api.auth import require, require_unbound
from contracts.api.common import ERRORS, capacity_lines, now, path_id, reading
from contracts.api.schemas import (
    FacilityCapacityIn,
    FacilityDryRun,
    FacilityIn,
    FacilityWriteOut,
    TimeTravel,
)
from ledger import read
from ledger.domain import commands as c
from ledger.read import FacilityView
from ledger.service import Accepted

FacilityAnswer = FacilityWriteOut | FacilityDryRun
"""A write's answer, or its dry run's."""

router = Router(tags=["facilities"])


def _render(facility_id: str) -> writes.Render:
    def render(conn: Connection, outcome: Accepted) -> FacilityWriteOut:
        view = read.facility(conn, facility_id, now())
        return FacilityWriteOut(**view.model_dump(), position=outcome.position)

    return render


@router.post("/facilities", response={201: FacilityAnswer, **ERRORS})
def register_facility(
    request: HttpRequest, body: FacilityIn, dry_run: bool = False
) -> HttpResponse:
    key = require(request, "contracts:write")
    require_unbound(key, "register facilities")
    command = c.RegisterFacility(
        facility_id=body.id,
        provider=body.provider,
        name=body.name,
        location=body.location,
        capacity=capacity_lines(body.capacity),
        effective_at=body.effective_at,
        reason=body.reason,
    )
    return writes.run(request, key, command, _render(body.id), dry_run=dry_run)


@router.get("/facilities/{facility_id}", response={200: FacilityView, **ERRORS})
def get_facility(request: HttpRequest, facility_id: str, at: Query[TimeTravel]) -> FacilityView:
    key = require(request, "contracts:read")
    with reading() as conn:
        return read.facility(conn, facility_id, at.as_of or now(), at.known_at, tenant=key.tenant)


@router.post(
    "/facilities/{facility_id}/capacity",
    response={200: FacilityAnswer, **ERRORS},
)
def change_facility_capacity(
    request: HttpRequest, facility_id: str, body: FacilityCapacityIn, dry_run: bool = False
) -> HttpResponse:
    key = require(request, "contracts:write")
    require_unbound(key, "change a facility's capacity")
    command = c.ChangeFacilityCapacity(
        facility_id=path_id("facility", facility_id),
        capacity=capacity_lines(body.capacity),
        effective_at=body.effective_at,
        reason=body.reason,
    )
    return writes.run(request, key, command, _render(facility_id), status=200, dry_run=dry_run)
