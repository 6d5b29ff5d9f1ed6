"""The append-only event store on SQLAlchemy Core.

Every append locks the single head row first. That lock serialises position assignment,
so positions are gap-free and equal to commit order: a reader following
`position > last_seen` can never miss an event that commits late, which a plain sequence
cannot promise on PostgreSQL. The same row carries the chain's head hash, so each event's
hash is computed from its predecessor's under the same lock.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.canonical import GENESIS_HASH, canonical_json, chain_hash, envelope_bytes
from ledger.canonical import format_timestamp as _ts
from ledger.errors import ConcurrencyError, DuplicateEvent, InvalidInput
from ledger.events import EventRegistry, NewEvent, RecordedEvent
from ledger.tables import events, head
from ledger.types import utcnow


class Expect(enum.Enum):
    """Expected-version sentinels; a plain int means "the stream is at exactly this version"."""

    ANY = "any"
    NO_STREAM = "no_stream"


ANY = Expect.ANY
NO_STREAM = Expect.NO_STREAM
ExpectedVersion = int | Expect


@dataclass(frozen=True, slots=True)
class Head:
    position: int
    hash: str
    recorded_at: datetime | None


_ENVELOPE_COLUMNS = (
    events.c.position,
    events.c.stream_id,
    events.c.stream_version,
    events.c.event_id,
    events.c.type,
    events.c.schema_version,
    events.c.payload,
    events.c.metadata,
    events.c.recorded_at,
    events.c.effective_at,
    events.c.prev_hash,
    events.c.hash,
)


def _matches(expected: ExpectedVersion, actual: int) -> bool:
    if expected is ANY:
        return True
    if expected is NO_STREAM:
        return actual == 0
    return expected == actual


class EventStore:
    """Appends and reads envelopes over a caller-owned connection and transaction."""

    def __init__(self, registry: EventRegistry, clock: Callable[[], datetime] = utcnow) -> None:
        self.registry = registry
        self.clock = clock

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        new_events: Sequence[NewEvent],
        expected: Mapping[str, ExpectedVersion],
    ) -> list[RecordedEvent]:
        """Append `new_events` atomically, each stream checked against `expected` first.

        Raises `ConcurrencyError` (nothing written) when a stream is not at the expected
        version. The caller owns the transaction: nothing is durable until it commits.
        """
        if not new_events:
            return []
        streams = list(dict.fromkeys(e.stream_id for e in new_events))
        unexpected = [s for s in streams if s not in expected]
        if unexpected:
            raise InvalidInput(f"no expected version given for stream(s) {unexpected}")
        # Encode before taking the lock: a bad payload or timestamp fails without waiting.
        encoded = [
            (
                e,
                self.registry.encode(e.event),
                canonical_json(e.metadata.model_dump(mode="json", exclude_none=True)),
                _ts(e.effective_at),
            )
            for e in new_events
        ]

        current = self._lock_head(conn)
        versions = self.stream_versions(conn, streams)
        for stream_id in streams:
            if not _matches(expected[stream_id], versions[stream_id]):
                raise ConcurrencyError(stream_id, expected[stream_id], versions[stream_id])

        # Keep recorded_at monotonic in position even if the wall clock steps back, so a
        # known_at timestamp always maps to one prefix of the ledger.
        now = self.clock()
        recorded_at = now if current.recorded_at is None else max(now, current.recorded_at)
        recorded_text = _ts(recorded_at)

        rows = []
        recorded: list[RecordedEvent] = []
        position, prev_hash = current.position, current.hash
        for new, payload, metadata, effective_text in encoded:
            position += 1
            versions[new.stream_id] += 1
            event_id = str(new.event_id or uuid.uuid4())
            event_type, schema_version = new.event.event_type, new.event.schema_version
            digest = chain_hash(
                prev_hash,
                envelope_bytes(
                    position=position,
                    event_id=event_id,
                    stream_id=new.stream_id,
                    stream_version=versions[new.stream_id],
                    event_type=event_type,
                    schema_version=schema_version,
                    payload=payload,
                    metadata=metadata,
                    recorded_at=recorded_text,
                    effective_at=effective_text,
                ),
            )
            record = RecordedEvent(
                position=position,
                stream_id=new.stream_id,
                stream_version=versions[new.stream_id],
                event_id=event_id,
                type=event_type,
                schema_version=schema_version,
                payload=payload.decode(),
                metadata=metadata.decode(),
                recorded_at=recorded_at,
                effective_at=new.effective_at,
                prev_hash=prev_hash,
                hash=digest,
            )
            recorded.append(record)
            rows.append(_row(record))
            prev_hash = digest

        self._insert(conn, rows)
        conn.execute(
            update(head)
            .where(head.c.id == 1)
            .values(position=position, hash=prev_hash, recorded_at=recorded_at)
        )
        return recorded

    def _lock_head(self, conn: Connection) -> Head:
        row = conn.execute(
            select(head.c.position, head.c.hash, head.c.recorded_at)
            .where(head.c.id == 1)
            .with_for_update()
        ).one()
        return Head(*row)

    @staticmethod
    def _insert(conn: Connection, rows: list[dict[str, object]]) -> None:
        try:
            conn.execute(insert(events), rows)
        except IntegrityError as exc:
            # Versions were checked under the head lock, so the only clash left is an
            # event id the ledger already holds.
            raise DuplicateEvent(
                "an event with one of these event ids is already recorded"
            ) from exc

    # -- reading ---------------------------------------------------------------------------

    def head(self, conn: Connection) -> Head:
        row = conn.execute(select(head.c.position, head.c.hash, head.c.recorded_at)).one_or_none()
        return Head(*row) if row else Head(0, GENESIS_HASH, None)

    def stream_versions(self, conn: Connection, stream_ids: Sequence[str]) -> dict[str, int]:
        """Current version of each stream; 0 for a stream that does not exist."""
        found = dict(
            conn.execute(
                select(events.c.stream_id, func.max(events.c.stream_version))
                .where(events.c.stream_id.in_(stream_ids))
                .group_by(events.c.stream_id)
            ).all()
        )
        return {s: found.get(s, 0) for s in stream_ids}

    def read_stream(
        self, conn: Connection, stream_id: str, up_to_version: int | None = None
    ) -> list[RecordedEvent]:
        query = select(*_ENVELOPE_COLUMNS).where(events.c.stream_id == stream_id)
        if up_to_version is not None:
            query = query.where(events.c.stream_version <= up_to_version)
        rows = conn.execute(query.order_by(events.c.stream_version))
        return [_from_row(row) for row in rows]

    def read_page(
        self,
        conn: Connection,
        after: int = 0,
        limit: int = 1000,
        *,
        stream_prefix: str | None = None,
        types: Sequence[str] | None = None,
        up_to: int | None = None,
    ) -> list[RecordedEvent]:
        """Up to `limit` events with position > `after`, in position order."""
        query = _filtered(
            select(*_ENVELOPE_COLUMNS).where(events.c.position > after),
            stream_prefix,
            types,
            up_to,
        )
        rows = conn.execute(query.order_by(events.c.position).limit(limit))
        return [_from_row(row) for row in rows]

    def read_all(
        self,
        conn: Connection,
        after: int = 0,
        *,
        batch_size: int = 1000,
        stream_prefix: str | None = None,
        types: Sequence[str] | None = None,
        up_to: int | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every matching event after `after`, fetched in keyset batches: flat memory."""
        while True:
            page = self.read_page(
                conn, after, batch_size, stream_prefix=stream_prefix, types=types, up_to=up_to
            )
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].position

    def position_at(self, conn: Connection, moment: datetime) -> int:
        """The last position recorded at or before `moment` (0 if none)."""
        found = conn.execute(
            select(func.max(events.c.position)).where(events.c.recorded_at <= moment)
        ).scalar()
        return int(found or 0)


def _filtered(
    query: Select[tuple[object, ...]],
    stream_prefix: str | None,
    types: Sequence[str] | None,
    up_to: int | None,
) -> Select[tuple[object, ...]]:
    if stream_prefix:
        query = query.where(events.c.stream_id.startswith(stream_prefix, autoescape=True))
    if types:
        query = query.where(events.c.type.in_(types))
    if up_to is not None:
        query = query.where(events.c.position <= up_to)
    return query


def _from_row(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(*row)


def _row(record: RecordedEvent) -> dict[str, object]:
    return {
        "position": record.position,
        "event_id": record.event_id,
        "stream_id": record.stream_id,
        "stream_version": record.stream_version,
        "type": record.type,
        "schema_version": record.schema_version,
        "payload": record.payload,
        "metadata": record.metadata,
        "recorded_at": record.recorded_at,
        "effective_at": record.effective_at,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }
