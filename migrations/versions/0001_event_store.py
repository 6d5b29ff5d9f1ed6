"""Event store: events, head row, idempotency keys; append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.tables import UtcTimestamp

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
       BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE rejected'); END""",
    """CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
       BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE rejected'); END""",
)

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION ledger_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'ledger_events is append-only: % rejected', TG_OP
           USING ERRCODE = 'integrity_constraint_violation';
       END $$""",
    """CREATE TRIGGER ledger_events_no_update_delete BEFORE UPDATE OR DELETE ON ledger_events
       FOR EACH ROW EXECUTE FUNCTION ledger_events_append_only()""",
    """CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_append_only()""",
)


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("position", Position, autoincrement=False, nullable=False),
        sa.Column(
            "event_id", sa.Uuid(as_uuid=False).with_variant(sa.String(36), "sqlite"), nullable=False
        ),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("recorded_at", UtcTimestamp(), nullable=False),
        sa.Column("effective_at", UtcTimestamp(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("position > 0", name=op.f("ck_ledger_events_position_positive")),
        sa.CheckConstraint(
            "stream_version > 0", name=op.f("ck_ledger_events_stream_version_positive")
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_ledger_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_ledger_events_event_id")),
        sa.UniqueConstraint(
            "stream_id", "stream_version", name=op.f("uq_ledger_events_stream_id_stream_version")
        ),
    )
    op.create_index(op.f("ix_ledger_events_type_position"), "ledger_events", ["type", "position"])
    op.create_index(op.f("ix_ledger_events_recorded_at"), "ledger_events", ["recorded_at"])

    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", Position, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", UtcTimestamp(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_ledger_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.execute(
        "INSERT INTO ledger_head (id, position, hash, recorded_at) "
        f"VALUES (1, 0, '{'0' * 64}', NULL)"
    )

    op.create_table(
        "ledger_idempotency_keys",
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("position", Position, nullable=True),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_ledger_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_ledger_idempotency_keys_created_at"), "ledger_idempotency_keys", ["created_at"]
    )

    triggers = SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else POSTGRES_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE ledger_events CASCADE")
        op.execute("DROP FUNCTION ledger_events_append_only()")
    else:
        op.drop_table("ledger_events")
    op.drop_table("ledger_idempotency_keys")
    op.drop_table("ledger_head")
