"""Value types shared by events, commands and queries: exact quantities and UTC instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from ledger.canonical import MAX_SAFE_INTEGER, format_decimal, format_timestamp
from ledger.errors import InvalidTimestamp
from ledger.exact import OutOfRange, bounded
from ledger.timeline import END_OF_TIME


def _exact_decimal(value: Any) -> Any:
    # pydantic would happily turn 0.1 into Decimal('0.1000000000000000055...'): refuse floats.
    if isinstance(value, bool | float):
        raise ValueError("quantities must be decimal strings or integers, not floats")
    if isinstance(value, str):
        try:
            Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    return value


def _bounded(value: Decimal) -> Decimal:
    try:
        return bounded(value)
    except OutOfRange as exc:
        raise ValueError(str(exc)) from None


# RFC 3339's date-time up to its seconds, which it requires (pydantic would take
# "2026-05-06T00:00Z"); the fraction and the offset are checked by the parse itself.
_RFC3339_PREFIX = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}")


def _utc_instant(value: Any) -> Any:
    # pydantic would read 1700000000 (or "-1") as seconds since the epoch: refuse numbers.
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and not _RFC3339_PREFIX.match(value)
    ):
        raise ValueError("timestamps must be RFC 3339 strings such as 2026-05-06T00:00:00Z")
    return value


def _require_utc(value: datetime) -> datetime:
    try:
        format_timestamp(value)
    except InvalidTimestamp as exc:
        raise ValueError(str(exc)) from None
    return value.replace(tzinfo=UTC)


def _in_utc(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("naive timestamp: an offset such as Z or +02:00 is required")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant falls outside the years 0001 to 9999 in UTC") from None


def _before_end_of_time(value: datetime) -> datetime:
    # The projections store END_OF_TIME as the end of every open interval: an instant at
    # or past it could be recorded but never be in force.
    if value >= END_OF_TIME:
        raise ValueError(f"instants must be before {format_timestamp(END_OF_TIME)}")
    return value


Quantity = Annotated[
    Decimal,
    BeforeValidator(_exact_decimal),
    AfterValidator(_bounded),
    PlainSerializer(format_decimal, return_type=str, when_used="json"),
]
"""An exact decimal quantity; serialised as a plain decimal string (`"220000"`)."""

UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_utc_instant),
    AfterValidator(_require_utc),
    AfterValidator(_before_end_of_time),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    # The serializer's own schema would be a bare string: published clients should read
    # an RFC 3339 instant.
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A timezone-aware UTC instant; naive or offset timestamps are refused (events and
commands hold instants in one canonical form)."""

Instant = Annotated[
    datetime,
    BeforeValidator(_utc_instant),
    AfterValidator(_in_utc),
    AfterValidator(_before_end_of_time),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An instant as a client may write it: RFC 3339 with any offset, read as the same
instant in UTC (an offset is notation, not data). Naive timestamps are refused."""


LedgerPosition = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
"""A position in the log as a client writes it: past 2**53 - 1 no JSON number is exact."""

PointOfKnowledge = LedgerPosition | Instant
"""What a `known_at` names: a position, or an instant (the last event recorded by then)."""

_POINT_OF_KNOWLEDGE: TypeAdapter[int | datetime] = TypeAdapter(PointOfKnowledge)
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def _first_message(exc: ValidationError) -> str:
    messages = [error["msg"].removeprefix("Value error, ") for error in exc.errors()]
    return messages[-1]


def parse_point_of_knowledge(text: str) -> int | datetime:
    """A `known_at` from a query string: read alike by the API and the admin. Raises
    ValueError with the reason."""
    text = text.strip()
    try:
        return _POINT_OF_KNOWLEDGE.validate_python(text)
    except ValidationError as exc:
        if text.isascii() and text.isdigit():
            raise ValueError(
                f"positions run from 0 to {MAX_SAFE_INTEGER}: {text} is past them"
            ) from None
        raise ValueError(
            f"{text!r} is neither a position (0 to {MAX_SAFE_INTEGER}) nor an RFC 3339 "
            f"instant: {_first_message(exc)}"
        ) from None


def parse_instant(text: str) -> datetime:
    """An instant from a query string, read as the API reads one. Raises ValueError."""
    try:
        return _INSTANT.validate_python(text.strip())
    except ValidationError as exc:
        raise ValueError(f"{text!r} is not an RFC 3339 instant: {_first_message(exc)}") from None


def utcnow() -> datetime:
    return datetime.now(UTC)
