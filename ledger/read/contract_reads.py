"""Contracts as known at a position: one, a filtered page of them, one contract's timeline,
and its lifecycle now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, select

from ledger.domain import contract as contracts_domain
from ledger.errors import NotFound
from ledger.projections.documents import from_document
from ledger.read.known_at import KnownAt, knowledge, snapshot
from ledger.read.series import total
from ledger.read.views import (
    AllocationView,
    CapacityLineView,
    ContractView,
    Knowledge,
    TermView,
    TimelineItem,
)
from ledger.tables import ProjectionTables
from ledger.timeline import EMPTY, END_OF_TIME, gap_filled

BATCH = 200
"""Contracts read per statement by the contract list, and their allocations with them."""


def _allocations_at(
    conn: Connection, tables: ProjectionTables, contract_ids: Sequence[str], position: int
) -> dict[str, list[tuple[int, str]]]:
    """(version, document) of each allocation of `contract_ids` as known at `position`."""
    found: dict[str, list[tuple[int, str]]] = {c: [] for c in contract_ids}
    if not contract_ids:
        return found
    a = tables.allocations
    rows = conn.execute(
        select(a.c.contract_id, a.c.version, a.c.document).where(
            a.c.contract_id.in_(list(contract_ids)),
            a.c.known_from <= position,
            a.c.known_to > position,
        )
    )
    for contract_id, version, document in rows:
        found[contract_id].append((version, document))
    return found


def _contract_state(
    conn: Connection, tables: ProjectionTables, contract_id: str, position: int
) -> contracts_domain.Contract | None:
    c = tables.contracts
    document = conn.execute(
        select(c.c.document).where(
            c.c.contract_id == contract_id,
            c.c.known_from <= position,
            c.c.known_to > position,
        )
    ).scalar()
    if document is None:
        return None
    allocations = _allocations_at(conn, tables, [contract_id], position)[contract_id]
    return from_document(document, allocations)


def contract(
    conn: Connection, contract_id: str, as_of: datetime, known_at: KnownAt = None
) -> ContractView:
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    state = _contract_state(conn, snap.tables, contract_id, known.position)
    if state is None:
        raise NotFound("contract", contract_id)
    return contract_view(state, as_of, known)


_INSTANT = timedelta(microseconds=1)


def _allocations_at_instant(
    state: contracts_domain.Contract, as_of: datetime
) -> dict[str, list[AllocationView]]:
    """The contract's allocations at `as_of`: in force then, scheduled to begin later, or
    ended by then (released, past `until`, or ended with the contract's term)."""
    schedule = state.schedule()
    found: dict[str, list[AllocationView]] = {"allocations": [], "scheduled": [], "ended": []}
    for a in state.allocations:
        ends = [t for t in (a.ends_at, schedule.end_in_force) if t is not None]
        end = min(ends) if ends else None
        begins = max(a.start, schedule.start)
        if end is not None and (as_of >= end or end <= begins):
            group, quantity = "ended", a.quantity_at(max(a.start, end - _INSTANT))
        elif as_of < begins:
            group, quantity = "scheduled", a.quantity_at(a.start)
        else:
            group, quantity = "allocations", a.quantity_at(as_of)
        found[group].append(
            AllocationView(
                allocation_id=a.allocation_id,
                workload=a.workload,
                resource=a.resource,
                quantity=quantity,
                effective_from=a.start,
                until=a.until,
                released=a.released,
            )
        )
    return found


def contract_view(
    state: contracts_domain.Contract, as_of: datetime, known: Knowledge
) -> ContractView:
    schedule = state.schedule()
    # Capacities describe the contract's terms, so they are read inside its term even when
    # as_of is not (status says where as_of falls); allocations are sorted by where as_of
    # falls for each of them.
    moment = state.term_instant(as_of)
    return ContractView(
        id=state.contract_id,
        provider=state.provider,
        tenant=state.tenant,
        facility=state.facility,
        title=state.title,
        reference=state.reference,
        commercial_terms=state.commercial_terms,
        status=state.status_at(as_of),
        term=TermView(start=schedule.start, end=schedule.end),
        capacity=[
            CapacityLineView(resource=r, quantity=q, unit=state.units.get(r))
            for r, q in state.capacity_at(moment).items()
            if q  # an amendment to "0" removes the resource (docs/api.md)
        ],
        **_allocations_at_instant(state, as_of),
        version=state.version,
        signed_at=state.signed_at,
        signed_by=list(state.signed_by),
        terminated_at=state.terminated_at,
        voided_at=state.voided_at,
        known_at=known,
    )


def contracts(
    conn: Connection,
    as_of: datetime,
    known_at: KnownAt = None,
    *,
    status: str | None = None,
    after: str | None = None,
    limit: int | None = None,
    **filters: str,
) -> list[ContractView]:
    """Contracts matching `filters` (tenant, provider, facility) and `status` at `as_of`,
    ordered by id, starting after the id `after`, at most `limit` of them."""
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    c = snap.tables.contracts
    query = select(c.c.contract_id, c.c.document).where(
        c.c.known_from <= known.position, c.c.known_to > known.position
    )
    for column, value in filters.items():
        query = query.where(c.c[column] == value)
    query = query.order_by(c.c.contract_id)
    # Status is judged at as_of by the domain's rules, so a status filter reads on until the
    # page is full: in batches after the last id read, which needs no server-side cursor
    # (and so no transaction block: see `Ledger.read`).
    batch_size = BATCH if status is not None or limit is None else min(limit, BATCH)
    views: list[ContractView] = []
    if limit is not None and limit <= 0:
        return views
    last = after
    while True:
        batch_query = query if last is None else query.where(c.c.contract_id > last)
        batch = conn.execute(batch_query.limit(batch_size)).all()
        allocations = _allocations_at(
            conn, snap.tables, [row.contract_id for row in batch], known.position
        )
        for row in batch:
            state = from_document(row.document, allocations[row.contract_id])
            view = contract_view(state, as_of, known)
            if status is None or view.status == status:
                views.append(view)
                if limit is not None and len(views) >= limit:
                    return views
        if len(batch) < batch_size:
            return views
        last = batch[-1].contract_id


def _timeline(
    state: contracts_domain.Contract, start: datetime, end: datetime
) -> list[TimelineItem]:
    items = []
    for resource in sorted(state.resources()):
        steps = state.contracted(resource) + state.allocated(resource, by_workload=False)
        pieces = ((s.valid_from, s.valid_to, s.value) for s in steps.segments())
        for lo, hi, value in gap_filled(pieces, start, end, EMPTY):
            items.append(_timeline_item(resource, lo, hi, value))
    return items


@dataclass(frozen=True)
class ContractPage:
    """A contract as one page shows it, from one read: its view at `as_of`, the instant
    inside its term whose quantities the view shows, its lifecycle, and its timeline."""

    view: ContractView
    shown_at: datetime
    lifecycle: str
    _state: contracts_domain.Contract

    def timeline(self, start: datetime, end: datetime) -> list[TimelineItem]:
        return _timeline(self._state, start, end)


def contract_page(conn: Connection, contract_id: str, as_of: datetime) -> ContractPage:
    snap = snapshot(conn)
    known = knowledge(conn, snap, None)
    state = _contract_state(conn, snap.tables, contract_id, known.position)
    if state is None:
        raise NotFound("contract", contract_id)
    return ContractPage(
        view=contract_view(state, as_of, known),
        shown_at=state.term_instant(as_of),
        lifecycle=state.lifecycle,
        _state=state,
    )


def _timeline_item(
    resource: str, lo: datetime, hi: datetime, value: Mapping[str, Decimal]
) -> TimelineItem:
    return TimelineItem(
        resource=resource,
        valid_from=lo,
        valid_to=None if hi == END_OF_TIME else hi,
        contracted=total(dict(value), "c:"),
        allocated=total(dict(value), "allocated"),
    )
