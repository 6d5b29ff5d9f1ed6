"""A view of each contract's current projection row in the active set (for the admin).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KNOWN_FOREVER = 2**62
COLUMNS = (
    "contract_id, known_from, tenant, provider, facility, lifecycle,"
    " term_start, term_end, terminated_at"
)


def _current(projection_set: str) -> str:
    return (
        f"SELECT {COLUMNS} FROM ledger_contracts_{projection_set}"
        f" WHERE known_to = {KNOWN_FOREVER}"
        " AND (SELECT active FROM ledger_projection_state WHERE id = 1)"
        f" = '{projection_set}'"
    )


def upgrade() -> None:
    op.execute(f"CREATE VIEW ledger_contracts_current AS {_current('a')} UNION ALL {_current('b')}")


def downgrade() -> None:
    op.execute("DROP VIEW ledger_contracts_current")
