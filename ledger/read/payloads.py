"""Stored payloads, read as the current model of their type.

A payload is stored as it was written, with its schema version; the registry's upcasters
turn older versions into the current one. A read that parsed the JSON itself would
misread every event written before a schema change.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Connection, select

from ledger.domain import registry
from ledger.events import Event
from ledger.tables import events

E = TypeVar("E", bound=Event)

PAYLOAD_COLUMNS = (events.c.type, events.c.schema_version, events.c.payload)
"""What a payload is decoded from."""


def decoded(event_type: str, schema_version: int, payload: str | bytes, as_type: type[E]) -> E:
    """The stored payload as the current model of `as_type`'s event type."""
    event = registry.decode(event_type, schema_version, payload)
    if not isinstance(event, as_type):
        raise TypeError(f"expected {as_type.event_type}, found {event_type}")
    return event


def opening(
    conn: Connection, stream_id: str, as_type: type[E], *, known_at: int | None = None
) -> E | None:
    """The stream's first event (a registration, which never changes), if it was
    recorded (by position `known_at`)."""
    query = select(*PAYLOAD_COLUMNS).where(
        events.c.stream_id == stream_id, events.c.stream_version == 1
    )
    if known_at is not None:
        query = query.where(events.c.position <= known_at)
    row = conn.execute(query).one_or_none()
    return None if row is None else decoded(*row, as_type=as_type)
