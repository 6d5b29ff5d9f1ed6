"""Allocation rows: each allocation's history in its own rows, out of the contract document.

Contract documents no longer carry their allocations, so the projections written before
this revision do not fit it. `ledger_projection_state.format` records the format of the
active set: 1 for a ledger that has events (its projections predate this revision), 2 for
an empty one; `manage.py migrate` rebuilds the projections while it is below
`ledger.tables.PROJECTION_FORMAT`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:43:06.300342
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch copy: on SQLite the copy-and-rename would break the
    # admin view (0004) that reads this table.
    op.add_column(
        "ledger_projection_state",
        sa.Column("format", sa.Integer(), server_default="1", nullable=False),
    )
    op.execute(
        "UPDATE ledger_projection_state SET format = 2"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_events)"
    )
    op.create_table(
        "ledger_allocations_a",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("contract_id", sa.String(length=100), nullable=False),
        sa.Column("allocation_id", sa.String(length=100), nullable=False),
        sa.Column(
            "known_from", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("known_to", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_allocations_a")),
    )
    with op.batch_alter_table("ledger_allocations_a", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_allocations_a_contract_id_known_from"),
            ["contract_id", "known_from"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_allocations_a_contract_id_known_to"),
            ["contract_id", "known_to"],
            unique=False,
        )

    op.create_table(
        "ledger_allocations_b",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("contract_id", sa.String(length=100), nullable=False),
        sa.Column("allocation_id", sa.String(length=100), nullable=False),
        sa.Column(
            "known_from", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("known_to", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_allocations_b")),
    )
    with op.batch_alter_table("ledger_allocations_b", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_allocations_b_contract_id_known_from"),
            ["contract_id", "known_from"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_allocations_b_contract_id_known_to"),
            ["contract_id", "known_to"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_allocations_b", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_allocations_b_contract_id_known_to"))
        batch_op.drop_index(batch_op.f("ix_ledger_allocations_b_contract_id_known_from"))

    op.drop_table("ledger_allocations_b")
    with op.batch_alter_table("ledger_allocations_a", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_allocations_a_contract_id_known_to"))
        batch_op.drop_index(batch_op.f("ix_ledger_allocations_a_contract_id_known_from"))

    op.drop_table("ledger_allocations_a")
    op.drop_column("ledger_projection_state", "format")
