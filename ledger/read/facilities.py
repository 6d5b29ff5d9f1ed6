"""A facility's capacity and reservations at `as_of`, whole or as one tenant may see it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from ledger import exact
from ledger.domain import facility as facilities_domain
from ledger.domain.events import FacilityRegistered
from ledger.errors import NotFound
from ledger.projections.projector import FACILITY
from ledger.read.known_at import KnownAt, knowledge, snapshot
from ledger.read.payloads import opening
from ledger.read.series import in_force_rows, rows, total, vector
from ledger.read.views import FacilityContract, FacilityResource, FacilityView
from ledger.tables import ProjectionTables
from ledger.timeline import ZERO


def _contract_rows(
    conn: Connection, tables: ProjectionTables, position: int, **filters: str
) -> list[Any]:
    c = tables.contracts
    query = select(c.c.contract_id, c.c.tenant).where(
        c.c.known_from <= position, c.c.known_to > position
    )
    for column, value in filters.items():
        query = query.where(c.c[column] == value)
    return rows(conn, query.order_by(c.c.contract_id))


def facility(
    conn: Connection,
    facility_id: str,
    as_of: datetime,
    known_at: KnownAt = None,
    *,
    tenant: str | None = None,
) -> FacilityView:
    """The facility at `as_of` as known at `known_at`. Read for `tenant` (a tenant-bound
    reader), it exists only where that tenant holds a contract, and shows that tenant's
    contracts and reservations alone, with no `free`: with the capacity, it would tell what
    the other tenants reserve."""
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    registered = opening(
        conn, facilities_domain.stream_id(facility_id), FacilityRegistered, known_at=known.position
    )
    if registered is None:
        raise NotFound("facility", facility_id)
    resources, shares = [], []
    for row in in_force_rows(conn, snap.tables, facility_id, (FACILITY,), as_of, known.position):
        vec = vector(row.value)
        capacity, reserved = vec.get("capacity", ZERO), total(vec, "r:")
        resources.append(
            FacilityResource(
                resource=row.key,
                unit=row.unit,
                capacity=capacity,
                reserved=reserved,
                free=exact.subtract(capacity, reserved),
            )
        )
        shares += [(k[2:], row.key, q) for k, q in vec.items() if k.startswith("r:")]
    tenants = {
        r.contract_id: r.tenant
        for r in _contract_rows(conn, snap.tables, known.position, facility=facility_id)
    }
    if tenant is not None:
        if tenant not in tenants.values():
            raise NotFound("facility", facility_id)  # as if it did not exist, exactly
        shares = [share for share in shares if tenants.get(share[0]) == tenant]
        own: dict[str, Decimal] = {}
        for _, resource, quantity in shares:
            own[resource] = exact.add(own.get(resource, ZERO), quantity)
        resources = [
            line.model_copy(update={"reserved": own.get(line.resource, ZERO), "free": None})
            for line in resources
        ]
    return FacilityView(
        id=facility_id,
        provider=registered.provider,
        name=registered.name,
        location=registered.location,
        as_of=as_of,
        known_at=known,
        resources=resources,
        contracts=[
            FacilityContract(contract_id=cid, tenant=tenants.get(cid, ""), resource=res, quantity=q)
            for cid, res, q in sorted(shares)
        ],
    )
