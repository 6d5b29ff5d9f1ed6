"""The single SQLAlchemy MetaData of the ledger: alembic's target, and the store's tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ledger.sql.types import EventId, Position, StreamId, UtcTimestamp

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

events = Table(
    "ledger_events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=False),
    Column("event_id", EventId, nullable=False),
    Column("stream_id", StreamId, nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("recorded_at", UtcTimestamp, nullable=False),
    Column("effective_at", UtcTimestamp, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("stream_id", "stream_version"),
    UniqueConstraint("event_id"),
    CheckConstraint("position > 0", name="position_positive"),
    CheckConstraint("stream_version > 0", name="stream_version_positive"),
    Index(None, "type", "position"),
    Index(None, "recorded_at"),
)

# One row: the last position handed out and the chain's head hash. Appenders lock it,
# which serialises position assignment so that positions are gap-free in commit order.
head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", Position, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("recorded_at", UtcTimestamp, nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)

idempotency_keys = Table(
    "ledger_idempotency_keys",
    metadata,
    Column("scope", String(100), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("position", Position, nullable=True),
    Column("headers", Text, nullable=True),
    Column("created_at", UtcTimestamp, nullable=False),
    Index(None, "created_at"),
)


# -- projections ---------------------------------------------------------------------------
# Two identical sets, "a" and "b". Queries and inline projection use the active one; a
# rebuild fills the other from the events, then flips `ledger_projection_state.active`
# under the head lock: no DDL at run time, and readers never see a half-built table.

KNOWN_FOREVER = 2**62
"""`known_to` of a row that no later event has superseded (indexable, unlike NULL)."""

PROJECTION_SETS = ("a", "b")
PROJECTION_FORMAT = 3
"""What the projection rows hold, numbered: 2 since allocations got their own rows (alembic
0005), 3 since parties and facilities have rows and allocation rows their columns (0008).
`ledger_projection_state.format` records the format of the active set; `migrate` rebuilds
the projections while it is behind, and a rebuild brings it up to date."""
PROJECTIONS_INCOMPLETE = 0
"""The format of projections not built yet: recorded with the events an import commits,
replaced by the rebuild that builds them, so a crash between the two is never served."""


@dataclass(frozen=True)
class ProjectionTables:
    name: str
    timeline: Table
    series: Table
    contracts: Table
    allocations: Table
    parties: Table
    facilities: Table


def _party_columns() -> list[Column[Any]]:
    return [
        Column("party_id", String(100), primary_key=True),
        Column("name", Text, nullable=False),
        Column("roles", String(200), nullable=False),  # ", "-separated: a few role names
        Column("position", Position, nullable=False),
        Column("recorded_at", UtcTimestamp, nullable=False),
    ]


def _facility_columns() -> list[Column[Any]]:
    return [
        Column("facility_id", String(100), primary_key=True),
        Column("provider", String(100), nullable=False),
        Column("name", Text, nullable=False),
        Column("location", Text, nullable=False),
        Column("position", Position, nullable=False),
        Column("recorded_at", UtcTimestamp, nullable=False),
    ]


def _projection_tables(name: str) -> ProjectionTables:
    timeline = Table(
        f"ledger_timeline_{name}",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("owner", String(100), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("key", String(200), nullable=False),
        Column("valid_from", UtcTimestamp, nullable=False),
        Column("valid_to", UtcTimestamp, nullable=False),
        Column("known_from", Position, nullable=False),
        Column("known_to", Position, nullable=False),
        Column("value", Text, nullable=False),
        # as-of lookups: the last row starting at or before as_of, known at K
        Index(None, "owner", "kind", "key", "valid_from", "known_from"),
        # the writer's view: current rows of a series overlapping a window
        Index(None, "owner", "kind", "key", "known_to", "valid_to"),
        # changes(): what was superseded or added after a position
        Index(None, "owner", "known_from"),
        Index(None, "owner", "known_to"),
    )
    series = Table(
        f"ledger_series_{name}",
        metadata,
        Column("owner", String(100), primary_key=True),
        Column("kind", String(16), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("unit", String(32), nullable=True),
    )
    contracts = Table(
        f"ledger_contracts_{name}",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("contract_id", String(100), nullable=False),
        Column("known_from", Position, nullable=False),
        Column("known_to", Position, nullable=False),
        Column("tenant", String(100), nullable=False),
        Column("provider", String(100), nullable=False),
        Column("facility", String(100), nullable=False),
        Column("lifecycle", String(16), nullable=False),
        Column("term_start", UtcTimestamp, nullable=False),
        Column("term_end", UtcTimestamp, nullable=False),
        Column("terminated_at", UtcTimestamp, nullable=True),
        Column("document", Text, nullable=False),
        Index(None, "contract_id", "known_from"),
        Index(None, "tenant", "known_to"),
        Index(None, "provider", "known_to"),
        Index(None, "facility", "known_to"),
    )
    # An allocation's history lives in its own rows, not in the contract's document: an
    # allocation event then writes what changed (one allocation), not the whole contract.
    allocations = Table(
        f"ledger_allocations_{name}",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("contract_id", String(100), nullable=False),
        Column("allocation_id", String(100), nullable=False),
        Column("known_from", Position, nullable=False),
        Column("known_to", Position, nullable=False),
        # The contract stream's version at known_from: a contract's version at a position is
        # the largest among its contract row and allocation rows known then.
        Column("version", Integer, nullable=False),
        Column("document", Text, nullable=False),
        # What the admin's list of allocations shows and filters by, from the document.
        Column("tenant", String(100), nullable=False),
        Column("workload", String(100), nullable=False),
        Column("resource", String(100), nullable=False),
        Column("first_quantity", String(64), nullable=False),
        Column("starts_at", UtcTimestamp, nullable=False),
        Column("ends_at", UtcTimestamp, nullable=True),
        Index(None, "contract_id", "known_to"),
        Index(None, "contract_id", "known_from"),
    )
    # The directory as registered: a party or facility is registered once and its row
    # never changes (its capacity and limits live in the timeline).
    parties = Table(f"ledger_parties_{name}", metadata, *_party_columns())
    facilities = Table(f"ledger_facilities_{name}", metadata, *_facility_columns())
    return ProjectionTables(name, timeline, series, contracts, allocations, parties, facilities)


projection_sets = {name: _projection_tables(name) for name in PROJECTION_SETS}

projection_state = Table(
    "ledger_projection_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("active", String(1), nullable=False),
    Column("rebuilt_at", UtcTimestamp, nullable=True),
    Column("rebuilt_through", Position, nullable=True),
    Column("format", Integer, nullable=False, server_default="1"),
    CheckConstraint("id = 1", name="single_row"),
)

# -- API keys ------------------------------------------------------------------------------
# Only a salted SHA-256 of each key's secret is stored; the key itself is shown once.
api_keys = Table(
    "ledger_api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated
    Column("tenant", String(100), nullable=True),
    Column("salt", String(32), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("revoked_at", UtcTimestamp, nullable=True),
)


# -- views for the admin ---------------------------------------------------------------------
# Not alembic's target (autogenerate does not manage views): migration 0004 creates them,
# and the admin's unmanaged models mirror these definitions (a test holds them together).
view_metadata = MetaData()

contracts_current = Table(
    "ledger_contracts_current",
    view_metadata,
    Column("contract_id", String(100), primary_key=True),
    Column("known_from", Position, nullable=False),
    Column("tenant", String(100), nullable=False),
    Column("provider", String(100), nullable=False),
    Column("facility", String(100), nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Column("term_start", UtcTimestamp, nullable=False),
    Column("term_end", UtcTimestamp, nullable=False),
    Column("terminated_at", UtcTimestamp, nullable=True),
)

parties_current = Table("ledger_parties_current", view_metadata, *_party_columns())

facilities_current = Table("ledger_facilities_current", view_metadata, *_facility_columns())

allocations_current = Table(
    "ledger_allocations_current",
    view_metadata,
    # `contract_id/allocation_id`: an allocation's id is unique within its contract only.
    Column("key", String(201), primary_key=True),
    Column("contract_id", String(100), nullable=False),
    Column("allocation_id", String(100), nullable=False),
    Column("known_from", Position, nullable=False),
    Column("tenant", String(100), nullable=False),
    Column("workload", String(100), nullable=False),
    Column("resource", String(100), nullable=False),
    Column("first_quantity", String(64), nullable=False),
    Column("starts_at", UtcTimestamp, nullable=False),
    Column("ends_at", UtcTimestamp, nullable=True),
)
"""Each contract's current row, from whichever projection set is active."""
