"""What the ledger knew when: the active projection set and the head, read in one statement,
and a `known_at` resolved to a position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, String, bindparam, select

from ledger.domain import party as parties_domain
from ledger.domain.events import PartyRegistered
from ledger.errors import NotFound, ProjectionsStale
from ledger.read.payloads import decoded
from ledger.read.views import Knowledge
from ledger.store import EventStore
from ledger.tables import (
    PROJECTIONS_INCOMPLETE,
    ProjectionTables,
    events,
    head,
    projection_sets,
    projection_state,
)

KnownAt = int | datetime | None


@dataclass(frozen=True)
class Snapshot:
    """The active projection set and the head, read in one statement."""

    tables: ProjectionTables
    head_position: int
    head_recorded_at: datetime | None
    registered_at: int = 0
    """For a tenant's snapshot: the position of the tenant's registration."""

    def require_known(self, tenant: str, position: int) -> None:
        """404 for a tenant the ledger did not know yet at `position`."""
        if position < self.registered_at:
            raise NotFound("tenant", tenant)


_SNAPSHOT = (
    select(
        head.c.position,
        head.c.recorded_at,
        projection_state.c.active,
        projection_state.c.format,
    )
    .select_from(head.join(projection_state, projection_state.c.id == head.c.id))
    .where(head.c.id == 1)
)


_STREAM = bindparam("stream", type_=String())


_REGISTRATION = events.c.stream_id == _STREAM, events.c.stream_version == 1


_SNAPSHOT_OF_TENANT = _SNAPSHOT.add_columns(
    select(events.c.position).where(*_REGISTRATION).scalar_subquery().label("registered_at"),
    select(events.c.schema_version).where(*_REGISTRATION).scalar_subquery().label("version"),
    select(events.c.payload).where(*_REGISTRATION).scalar_subquery().label("registration"),
)


def snapshot(conn: Connection) -> Snapshot:
    row = conn.execute(_SNAPSHOT).one()
    _require_built(row.format)
    return Snapshot(projection_sets[row.active], row.position, row.recorded_at)


def _require_built(format: int) -> None:
    if format == PROJECTIONS_INCOMPLETE:
        raise ProjectionsStale()


def tenant_snapshot(conn: Connection, tenant: str) -> Snapshot:
    """The snapshot, read in the same statement that checks the tenant exists (404)."""
    row = conn.execute(_SNAPSHOT_OF_TENANT, {"stream": parties_domain.stream_id(tenant)}).one()
    _require_built(row.format)
    # A party that is not a tenant (a provider) has no entitlements to answer with: an
    # empty answer would read as "nothing in force" for a mistyped tenant.
    if row.registered_at is None or "tenant" not in _registered(row).roles:
        raise NotFound("tenant", tenant)
    return Snapshot(projection_sets[row.active], row.position, row.recorded_at, row.registered_at)


def _registered(row: Row[Any]) -> PartyRegistered:
    return decoded(PartyRegistered.event_type, row.version, row.registration, PartyRegistered)


def tenant_knowledge(
    conn: Connection, tenant: str, known_at: KnownAt
) -> tuple[Snapshot, Knowledge]:
    """The tenant's snapshot and what the ledger knew at `known_at`: 404 for a tenant it
    did not know then (known_at is what the ledger knew)."""
    snap = tenant_snapshot(conn, tenant)
    known = knowledge(conn, snap, known_at)
    snap.require_known(tenant, known.position)
    return snap, known


def knowledge(conn: Connection, snap: Snapshot, known_at: KnownAt) -> Knowledge:
    if known_at is None:
        return Knowledge(position=snap.head_position, recorded_at=snap.head_recorded_at)
    if isinstance(known_at, datetime):
        position = min(EventStore.position_at(conn, known_at), snap.head_position)
    else:
        position = max(0, min(known_at, snap.head_position))
    recorded = None
    if position:
        recorded = conn.execute(
            select(events.c.recorded_at).where(events.c.position == position)
        ).scalar()
    return Knowledge(position=position, recorded_at=recorded)
