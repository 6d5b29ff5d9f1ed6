"""Stream ids compare byte by byte on PostgreSQL (collation "C").

Prefix ranges over stream ids (`directory.parties`: "party-" up to "party.") and the feed's
prefix filter assume byte order. A database created with a collation that ignores
punctuation (glibc's en_US.UTF-8, ICU's "shifted" locales) sorted every "party-x" after
"party.", and the party list came back empty. Changing the column's collation rebuilds the
indexes on it; no row changes, so the append-only triggers do not fire. SQLite already
compares bytes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE ledger_events ALTER COLUMN stream_id TYPE varchar(200) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_events ALTER COLUMN stream_id TYPE varchar(200)")
