"""The event feed: every event once, in position order, optionally seen by one tenant.

A tenant sees its own party stream and the streams of the contracts that currently name
it. Facility streams are the provider's: they also hold other tenants' reservations, and
what they say of a tenant's contracts (reserved, changed, released) its contract streams
already say.

A reader looping on `after = next_after` never skips an event: positions are gap-free in
commit order, and `next_after` never passes the head read *before* the page, so every
position up to it had committed when the page was read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, literal, or_, select

from ledger.domain import contract as contracts_domain
from ledger.domain import party as parties_domain
from ledger.events import RecordedEvent
from ledger.read.known_at import snapshot
from ledger.sql.events import ENVELOPE_COLUMNS
from ledger.store import record_from_row
from ledger.tables import KNOWN_FOREVER, ProjectionTables, events


@dataclass(frozen=True)
class FeedPage:
    items: list[RecordedEvent]
    next_after: int


def tenant_streams(tables: ProjectionTables, tenant: str) -> ColumnElement[bool]:
    """Events of the streams `tenant` may see (see module docstring)."""
    contracts = tables.contracts
    contract_streams = select(
        literal(contracts_domain.stream_id("")) + contracts.c.contract_id
    ).where(contracts.c.tenant == tenant, contracts.c.known_to == KNOWN_FOREVER)
    return or_(
        events.c.stream_id == parties_domain.stream_id(tenant),
        events.c.stream_id.in_(contract_streams),
    )


def page(
    conn: Connection,
    after: int = 0,
    limit: int = 100,
    *,
    tenant: str | None = None,
    stream: str | None = None,
    types: Sequence[str] = (),
) -> FeedPage:
    snap = snapshot(conn)
    query = select(*ENVELOPE_COLUMNS).where(
        events.c.position > after, events.c.position <= snap.head_position
    )
    if tenant is not None:
        query = query.where(tenant_streams(snap.tables, tenant))
    if stream is not None:
        query = query.where(events.c.stream_id == stream)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    items = [
        record_from_row(row) for row in conn.execute(query.order_by(events.c.position).limit(limit))
    ]
    if len(items) == limit:
        return FeedPage(items, items[-1].position)
    # A short page read everything up to the head: the next read can start there.
    return FeedPage(items, max(after, snap.head_position))


def tenant_stream_ids(conn: Connection, tenant: str) -> list[str]:
    """The ids of the streams `tenant` may see (see module docstring)."""
    contracts = snapshot(conn).tables.contracts
    contract_ids = conn.scalars(
        select(contracts.c.contract_id).where(
            contracts.c.tenant == tenant, contracts.c.known_to == KNOWN_FOREVER
        )
    )
    return [
        parties_domain.stream_id(tenant),
        *(contracts_domain.stream_id(c) for c in contract_ids),
    ]
