"""Audit exports: the events as canonical envelopes (JSONL) or one row each (CSV),
streamed in position order, and a manifest that describes the file and is signed.

The command line and the API produce the same bytes for the same filters and `up_to`
(the last position included, the head by default): both run `export_chunks`. Filters:
a tenant (the streams it may see, as in the event feed) and a period of *recording*
time [from, to). Recording time grows with position, so a period is one contiguous run
of the chain, whose every link the verifier can check.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, select

from ledger.canonical import format_timestamp
from ledger.errors import FieldError, InvalidInput, PositionInFuture
from ledger.read import snapshot
from ledger.read.feed import tenant_streams
from ledger.signing import Signer
from ledger.sql.dialect import dialect_of
from ledger.tables import events
from ledger.types import utcnow
from ledger.verify import CSV_COLUMNS, manifest_body

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
BATCH = 1_000


@dataclass(frozen=True)
class ExportFilter:
    tenant: str | None = None
    start: datetime | None = None  # recorded_at >= start
    end: datetime | None = None  # recorded_at < end
    up_to: int | None = None  # last position included; None: the head when exporting

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "from": None if self.start is None else format_timestamp(self.start),
            "to": None if self.end is None else format_timestamp(self.end),
        }


Row = Sequence[Any]
"""An exported event as the database hands it over: every envelope field, in
`CSV_COLUMNS` order, with the event id and both timestamps already canonical text."""


def _quoted(value: str) -> bytes:
    """A string known to need no escaping (hex digests, UUIDs, RFC 3339 timestamps)."""
    return b'"' + value.encode() + b'"'


def jsonl_line(row: Row) -> bytes:
    """The envelope as RFC 8785 JSON, spliced in key order from parts already canonical."""
    (position, event_id, stream_id, stream_version, event_type, schema_version) = row[:6]
    effective_at, recorded_at, payload, metadata, prev_hash, digest = row[6:]
    return b"".join(
        (
            b'{"effective_at":',
            _quoted(effective_at),
            b',"event_id":',
            _quoted(event_id),
            b',"hash":',
            _quoted(digest),
            b',"metadata":',
            metadata.encode(),
            b',"payload":',
            payload.encode(),
            b',"position":',
            str(position).encode(),
            b',"prev_hash":',
            _quoted(prev_hash),
            b',"recorded_at":',
            _quoted(recorded_at),
            b',"schema_version":',
            str(schema_version).encode(),
            b',"stream_id":',
            orjson.dumps(stream_id),
            b',"stream_version":',
            str(stream_version).encode(),
            b',"type":',
            orjson.dumps(event_type),
            b"}\n",
        )
    )


def _csv_rows(rows: Sequence[Row]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def resolve(conn: Connection, wanted: ExportFilter) -> ExportFilter:
    """`wanted` with `up_to` fixed (the head if unset), so the file can be made again."""
    head = snapshot(conn).head_position
    if wanted.up_to is not None and wanted.up_to > head:
        raise PositionInFuture("up_to", wanted.up_to, head)
    if wanted.start and wanted.end and wanted.start >= wanted.end:
        raise InvalidInput(
            "the period is empty: `from` must be before `to`",
            [FieldError(("query", "to"), "must be after from")],
        )
    up_to = head if wanted.up_to is None else wanted.up_to
    return ExportFilter(wanted.tenant, wanted.start, wanted.end, up_to)


def _rows(conn: Connection, wanted: ExportFilter) -> Iterator[Sequence[Row]]:
    assert wanted.up_to is not None
    dialect = dialect_of(conn)
    c = events.c
    columns = [
        c.position,
        dialect.uuid_text(c.event_id),
        c.stream_id,
        c.stream_version,
        c.type,
        c.schema_version,
        dialect.timestamp_text(c.effective_at),
        dialect.timestamp_text(c.recorded_at),
        c.payload,
        c.metadata,
        c.prev_hash,
        c.hash,
    ]
    query = select(*columns).where(c.position <= wanted.up_to)
    if wanted.tenant is not None:
        query = query.where(tenant_streams(snapshot(conn).tables, wanted.tenant))
    if wanted.start is not None:
        query = query.where(c.recorded_at >= wanted.start)
    if wanted.end is not None:
        query = query.where(c.recorded_at < wanted.end)
    result = conn.execution_options(yield_per=BATCH).execute(query.order_by(c.position))
    for rows in result.partitions():
        yield [tuple(row) for row in rows]


@dataclass
class Tally:
    """What a manifest says of its file, gathered while the file streams by."""

    sha256: Any = field(default_factory=hashlib.sha256)
    count: int = 0
    first_position: int | None = None
    last_position: int | None = None
    stream_versions: dict[str, int] = field(default_factory=dict)


def export_chunks(
    conn: Connection, wanted: ExportFilter, fmt: Format, tally: Tally | None = None
) -> Iterator[bytes]:
    """The export file, a chunk per batch of events (memory does not grow with the file),
    counted into `tally` as it goes. `wanted` must be resolved (see `resolve`)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: choose jsonl or csv")
    tally = tally or Tally()
    if fmt == "csv":
        header = (",".join(CSV_COLUMNS) + "\n").encode()
        tally.sha256.update(header)
        yield header
    versions = tally.stream_versions
    for batch in _rows(conn, wanted):
        chunk = b"".join(map(jsonl_line, batch)) if fmt == "jsonl" else _csv_rows(batch)
        tally.sha256.update(chunk)
        tally.count += len(batch)
        tally.first_position = tally.first_position or batch[0][0]
        tally.last_position = batch[-1][0]
        for row in batch:
            versions[row[2]] = row[3]
        yield chunk


def manifest(
    conn: Connection, wanted: ExportFilter, fmt: Format, tally: Tally, signer: Signer
) -> dict[str, Any]:
    """The signed manifest of a file made by `export_chunks` into `tally`."""
    assert wanted.up_to is not None
    head_hash = conn.execute(
        select(events.c.hash).where(events.c.position == wanted.up_to)
    ).scalar()
    body: dict[str, Any] = {
        "format": fmt,
        "filters": wanted.as_json(),
        "count": tally.count,
        "first_position": tally.first_position,
        "last_position": tally.last_position,
        "head_position": wanted.up_to,
        "head_hash": head_hash,
        "stream_versions": dict(sorted(tally.stream_versions.items())),
        "sha256": tally.sha256.hexdigest(),
        "generated_at": format_timestamp(utcnow()),
        "public_key": signer.public_pem(),
    }
    return {**body, "signature": signer.sign(manifest_body(body))}


def build_manifest(
    conn: Connection, wanted: ExportFilter, fmt: Format, signer: Signer
) -> dict[str, Any]:
    """Make the file again (without keeping it) to describe and sign it."""
    tally = Tally()
    for _ in export_chunks(conn, wanted, fmt, tally):
        pass
    return manifest(conn, wanted, fmt, tally, signer)
