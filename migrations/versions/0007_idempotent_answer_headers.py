"""An idempotent answer is kept with its headers (content type, ETag), not only its body.

A repeat then gets the very answer the first request got, headers included, without the
API parsing the stored body to rebuild them. Records kept before this revision have none
(NULL); the API answers those as it did when they were written.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_idempotency_keys") as table:
        table.add_column(sa.Column("headers", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_idempotency_keys") as table:
        table.drop_column("headers")
