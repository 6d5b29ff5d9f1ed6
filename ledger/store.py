"""The append-only event store on SQLAlchemy Core.

Every append locks the single head row first. That lock serialises position assignment,
so positions are gap-free and equal to commit order: a reader following
`position > last_seen` can never miss an event that commits late, which a plain sequence
cannot promise on PostgreSQL. The same row carries the chain's head hash, so each event's
hash is computed from its predecessor's under the same lock.

The statements themselves, one set per database, are in `ledger.sql.events`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.exc import IntegrityError

from ledger.canonical import (
    GENESIS_HASH,
    canonical_model_json,
    chain_hash,
    envelope_bytes,
)
from ledger.canonical import format_timestamp as _ts
from ledger.errors import ConcurrencyError, DuplicateEvent, InvalidInput
from ledger.events import EventRegistry, NewEvent, RecordedEvent
from ledger.sql.dialect import dialect_of
from ledger.sql.driver import driver_connection
from ledger.sql.events import ENVELOPE_COLUMNS, EventSQL, PostgresEventSQL
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


STREAM_VERSION_CONSTRAINT = "uq_ledger_events_stream_id_stream_version"


def _matches(expected: ExpectedVersion, actual: int) -> bool:
    if expected is ANY:
        return True
    if expected is NO_STREAM:
        return actual == 0
    return expected == actual


# The variant nibble of an RFC 9562 UUID is 10xx: each hex digit mapped to its variant form.
_VARIANT = {f"{d:x}": f"{(d & 0x3) | 0x8:x}" for d in range(16)}
_PER_MILLISECOND = 0x1000  # the 12-bit counter of a version 7 UUID


def _time_ordered_event_ids(count: int, moment: datetime) -> Iterator[str]:
    """Version 7 UUIDs (RFC 9562) in canonical text form: the recording millisecond, a
    12-bit counter within this append (the millisecond moves on when it runs out), then 62
    random bits from one read of the OS's random source.

    Ids that follow commit order are inserted at the right edge of the event-id index.
    Random (version 4) ids landed all over it, and past a few tens of thousands of events
    that halved the insert rate of a bulk append on SQLite (measured: bench/append.py).
    """
    first_ms = int(moment.timestamp() * 1000)
    digits = os.urandom(8 * count).hex()
    for i in range(count):
        ms, counter = divmod(i, _PER_MILLISECOND)
        stamp = f"{first_ms + ms:012x}"
        r = digits[16 * i : 16 * i + 16]
        yield f"{stamp[:8]}-{stamp[8:]}-7{counter:03x}-{_VARIANT[r[0]]}{r[1:4]}-{r[4:]}"


def _sql(conn: Connection) -> type[EventSQL]:
    return dialect_of(conn).events


def _stream_conflict(exc: Exception) -> str | None:
    """The stream whose version another writer took first, if that is what `exc` says."""
    orig = exc.orig if isinstance(exc, IntegrityError) else exc
    diag = getattr(orig, "diag", None)
    if diag is not None:
        if diag.constraint_name != STREAM_VERSION_CONSTRAINT:
            return None
        detail = diag.message_detail or ""  # Key (stream_id, stream_version)=(acct-a, 3) ...
        return detail.split(")=(", 1)[-1].rsplit(", ", 1)[0] if ")=(" in detail else ""
    if "ledger_events.stream_id" in str(orig):
        return ""
    return None


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
        # Metadata repeats (a command's events share it; a bulk import has few actors):
        # encode each distinct value once, keyed by its field values (cheaper to hash than
        # the model).
        metadata_json: dict[tuple[object, ...], bytes] = {}
        encode = self.registry.encode
        encoded = []
        for e in new_events:
            key = tuple(e.metadata.__dict__.values())
            metadata = metadata_json.get(key)
            if metadata is None:
                metadata = metadata_json[key] = canonical_model_json(e.metadata, exclude_none=True)
            encoded.append((e, encode(e.event), metadata, _ts(e.effective_at)))

        sql = _sql(conn)
        driver = driver_connection(conn)
        position, prev_hash, last_recorded, versions = sql.lock_head(driver, streams)
        if sql is PostgresEventSQL:
            versions.update(sql.fresh_versions(driver, [s for s in streams if expected[s] is ANY]))
        for stream_id in streams:
            if not _matches(expected[stream_id], versions[stream_id]):
                raise ConcurrencyError(stream_id, expected[stream_id], versions[stream_id])

        # Keep recorded_at monotonic in position even if the wall clock steps back, so a
        # known_at timestamp always maps to one prefix of the ledger.
        recorded_at = self.clock()
        if last_recorded is not None:
            last_recorded = sql.timestamp(last_recorded)
            recorded_at = max(recorded_at, last_recorded)
        recorded_text = _ts(recorded_at)

        rows: list[tuple[object, ...]] = []
        recorded: list[RecordedEvent] = []
        generated_ids = _time_ordered_event_ids(
            sum(1 for e in new_events if e.event_id is None), recorded_at
        )
        for new, payload, metadata, effective_text in encoded:
            position += 1
            version = versions[new.stream_id] = versions[new.stream_id] + 1
            event_id = str(new.event_id) if new.event_id else next(generated_ids)
            event_type, schema_version = new.event.event_type, new.event.schema_version
            digest = chain_hash(
                prev_hash,
                envelope_bytes(
                    position,
                    event_id,
                    new.stream_id,
                    version,
                    event_type,
                    schema_version,
                    payload,
                    metadata,
                    recorded_text,
                    effective_text,
                ),
            )
            payload_text, metadata_text = payload.decode(), metadata.decode()
            recorded.append(
                RecordedEvent(
                    position,
                    new.stream_id,
                    version,
                    event_id,
                    event_type,
                    schema_version,
                    payload_text,
                    metadata_text,
                    recorded_at,
                    new.effective_at,
                    prev_hash,
                    digest,
                )
            )
            rows.append(
                (
                    position,
                    event_id,
                    new.stream_id,
                    version,
                    event_type,
                    schema_version,
                    payload_text,
                    metadata_text,
                    recorded_text,
                    effective_text,
                    prev_hash,
                    digest,
                )
            )
            prev_hash = digest

        try:
            sql.insert(driver, rows, (position, prev_hash, recorded_text))
        except sql.integrity_errors as exc:
            stream = _stream_conflict(exc)
            if stream is None:
                raise DuplicateEvent("one of these event ids is already recorded") from exc
            raise ConcurrencyError(stream, expected.get(stream, "?"), None) from exc
        return recorded

    @staticmethod
    def lock_head(conn: Connection) -> int:
        """Take the append lock (held until the transaction ends); returns the head position."""
        position, *_ = _sql(conn).lock_head(driver_connection(conn), [])
        return int(position)

    # -- reading ---------------------------------------------------------------------------

    def head(self, conn: Connection) -> Head:
        row = conn.execute(select(head.c.position, head.c.hash, head.c.recorded_at)).one_or_none()
        return Head(*row) if row else Head(0, GENESIS_HASH, None)

    @staticmethod
    def stream_versions(conn: Connection, stream_ids: Sequence[str]) -> dict[str, int]:
        """Current version of each stream; 0 for a stream that does not exist."""
        return _sql(conn).fresh_versions(driver_connection(conn), list(stream_ids))

    def read_stream(
        self,
        conn: Connection,
        stream_id: str,
        up_to_version: int | None = None,
        *,
        from_version: int = 1,
    ) -> list[RecordedEvent]:
        """The stream's events from `from_version` through `up_to_version`, in order."""
        return _sql(conn).read_stream(conn, stream_id, up_to_version, from_version)

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
        if not stream_prefix and not types:
            return _sql(conn).read_page(conn, after, limit, up_to)
        query = _filtered(
            select(*ENVELOPE_COLUMNS).where(events.c.position > after),
            stream_prefix,
            types,
            up_to,
        )
        rows = conn.execute(query.order_by(events.c.position).limit(limit))
        return [record_from_row(row) for row in rows]

    @staticmethod
    def read_range(conn: Connection, after: int, through: int) -> list[RecordedEvent]:
        """The events at positions after < position <= through, in position order: at most
        `through - after` of them, read by one statement whose work the range bounds (see
        `read_all`)."""
        return _sql(conn).read_range(conn, after, through)

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
        """Every matching event after `after` (up to `up_to`), in position order, read in
        batches: flat memory."""
        if not stream_prefix and not types:
            yield from self._read_ranges(conn, after, batch_size, up_to)
            return
        while True:
            page = self.read_page(
                conn, after, batch_size, stream_prefix=stream_prefix, types=types, up_to=up_to
            )
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].position

    def _read_ranges(
        self, conn: Connection, after: int, size: int, up_to: int | None
    ) -> Iterator[RecordedEvent]:
        """Every event after `after`, by ranges of `size` positions.

        A range bounds each statement's work whatever plan the database picks. A page of
        "the next `size` after `after`" does not: with statistics gone stale after a bulk
        load, PostgreSQL fetched and sorted every event after `after` for each page, which
        made a replay quadratic in the ledger's length. Positions are unique integers, so a
        range holds at most `size` events; a gap (which only tampering makes) costs an
        empty range, never the events past it. Without `up_to` the reader goes on to the
        highest position stored, rows past the head row included: verification must see
        them.
        """
        end = self._last_position(conn)
        if up_to is not None:
            end = min(end, up_to)
        while after < end:
            through = min(after + size, end)
            yield from self.read_range(conn, after, through)
            after = through
            if up_to is None and after == end:
                end = self._last_position(conn)  # events appended while this one read

    @staticmethod
    def _last_position(conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(events.c.position), 0))).scalar_one())

    @staticmethod
    def stream_tail(
        conn: Connection, stream_id: str, types: Sequence[str], *, locked: bool = False
    ) -> tuple[int, RecordedEvent | None]:
        """The stream's version (0: no such stream) and its latest event of one of `types`,
        in one statement, without reading the rest of the stream.

        `locked`: take the append lock first (held until the transaction ends). On
        PostgreSQL the lock and the read go out pipelined, in one round trip: the server
        runs the read once the lock is had, and under READ COMMITTED its snapshot then
        holds every append committed before.
        """
        return _sql(conn).stream_tail(conn, stream_id, types, locked=locked)

    @staticmethod
    def position_at(conn: Connection, moment: datetime) -> int:
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


def record_from_row(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(*row)
