"""Column types whose storage differs between the two databases.

Each is one type to the tables and the queries; SQLAlchemy picks the variant for the
database it compiles for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, String, TypeDecorator, Uuid
from sqlalchemy.types import TypeEngine

from ledger.canonical import format_timestamp

# SQLite only makes `INTEGER PRIMARY KEY` an alias of the rowid (the fast path).
Position = BigInteger().with_variant(Integer(), "sqlite")
# Stream ids are compared byte by byte: prefix ranges ("party-" up to "party.") and the feed's
# prefix filter rely on it, and a database collation that ignores punctuation (glibc's
# en_US.UTF-8, or ICU's "shifted" locales) sorted every "party-x" after "party." (alembic
# 0006). SQLite compares bytes already.
StreamId = String(200).with_variant(String(200, collation="C"), "postgresql")
# Native uuid on PostgreSQL; the canonical 36-character text on SQLite.
EventId = Uuid(as_uuid=False).with_variant(String(36), "sqlite")


class UtcTimestamp(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; fixed-width RFC 3339 text on SQLite.

    The SQLite form (`2026-05-06T00:00:00.000000Z`) sorts lexicographically in time order,
    so range predicates work on it, and it is exactly the canonical form the hashes use.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(27))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        text = format_timestamp(value)  # refuses naive and non-UTC values
        return text if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
