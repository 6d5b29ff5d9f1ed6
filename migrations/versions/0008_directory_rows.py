"""Parties, facilities and allocations get projection rows of their own, for the admin.

The admin listed parties, facilities and allocations as proxies over `ledger_events`,
reading each row's raw payload: an older schema version of those events would have been
listed wrong. Their rows are now projections like any other, written by the projector from
decoded events and rebuilt with the rest:

- `ledger_parties_{a,b}` and `ledger_facilities_{a,b}`: one row per registration;
- allocation rows gain the columns the admin lists (tenant, workload, resource, first
  quantity, start and end), filled from the allocation as projected;
- the views `ledger_{parties,facilities,allocations}_current` read the active set, as
  `ledger_contracts_current` (0004) does.

The projection format goes to 3: `manage.py migrate` rebuilds a ledger with events, which
fills the new tables and columns (the defaults below only let the columns be added to rows
the rebuild then replaces).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.sql.types import Position, UtcTimestamp

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETS = ("a", "b")
KNOWN_FOREVER = 2**62
EARLIEST = "0001-01-01T00:00:00.000000Z"
ALLOCATION_COLUMNS = (
    ("tenant", sa.String(100), ""),
    ("workload", sa.String(100), ""),
    ("resource", sa.String(100), ""),
    ("first_quantity", sa.String(64), "0"),
)


def _active(projection_set: str) -> str:
    return f"(SELECT active FROM ledger_projection_state WHERE id = 1) = '{projection_set}'"


def _view(name: str, select: str) -> str:
    parts = [select.format(s=s) + f" AND {_active(s)}" for s in SETS]
    return f"CREATE VIEW {name} AS {' UNION ALL '.join(parts)}"


def upgrade() -> None:
    for s in SETS:
        op.create_table(
            f"ledger_parties_{s}",
            sa.Column("party_id", sa.String(100), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("roles", sa.String(200), nullable=False),
            sa.Column("position", Position, nullable=False),
            sa.Column("recorded_at", UtcTimestamp(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("party_id", name=op.f(f"pk_ledger_parties_{s}")),
        )
        op.create_table(
            f"ledger_facilities_{s}",
            sa.Column("facility_id", sa.String(100), nullable=False),
            sa.Column("provider", sa.String(100), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("location", sa.Text(), nullable=False),
            sa.Column("position", Position, nullable=False),
            sa.Column("recorded_at", UtcTimestamp(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("facility_id", name=op.f(f"pk_ledger_facilities_{s}")),
        )
        # Plain ADD COLUMNs, not a batch copy: on SQLite the copy-and-rename would break
        # the views that read these tables.
        for name, type_, default in ALLOCATION_COLUMNS:
            op.add_column(
                f"ledger_allocations_{s}",
                sa.Column(name, type_, nullable=False, server_default=default),
            )
        op.add_column(
            f"ledger_allocations_{s}",
            sa.Column(
                "starts_at", UtcTimestamp(timezone=True), nullable=False, server_default=EARLIEST
            ),
        )
        op.add_column(
            f"ledger_allocations_{s}",
            sa.Column("ends_at", UtcTimestamp(timezone=True), nullable=True),
        )
    op.execute(
        _view(
            "ledger_parties_current",
            "SELECT party_id, name, roles, position, recorded_at FROM ledger_parties_{s}"
            " WHERE 1 = 1",
        )
    )
    op.execute(
        _view(
            "ledger_facilities_current",
            "SELECT facility_id, provider, name, location, position, recorded_at"
            " FROM ledger_facilities_{s} WHERE 1 = 1",
        )
    )
    op.execute(
        _view(
            "ledger_allocations_current",
            "SELECT contract_id || '/' || allocation_id AS key, contract_id, allocation_id,"
            " known_from, tenant, workload, resource, first_quantity, starts_at, ends_at"
            " FROM ledger_allocations_{s} WHERE known_to = " + str(KNOWN_FOREVER),
        )
    )
    op.execute(
        "UPDATE ledger_projection_state SET format = 3"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_events)"
    )


def downgrade() -> None:
    for view in ("allocations", "facilities", "parties"):
        op.execute(f"DROP VIEW ledger_{view}_current")
    for s in SETS:
        for name in ("ends_at", "starts_at", *(c[0] for c in reversed(ALLOCATION_COLUMNS))):
            op.execute(f"ALTER TABLE ledger_allocations_{s} DROP COLUMN {name}")
        op.drop_table(f"ledger_facilities_{s}")
        op.drop_table(f"ledger_parties_{s}")
    op.execute("UPDATE ledger_projection_state SET format = 2 WHERE format = 3")
