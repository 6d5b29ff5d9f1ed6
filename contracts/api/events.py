from __future__ import annotations

import orjson
from django.http import HttpRequest
from ninja import Query, Router

from contracts.api.auth import narrowed_tenant, require, require_tenant
from contracts.api.common import ERRORS, reading
from contracts.api.schemas import EnvelopeOut, EventPage, EventQuery, StreamOut
from contracts.runtime import get_ledger
from ledger.errors import NotFound
from ledger.events import RecordedEvent
from ledger.read import directory, feed

router = Router(tags=["events"])

READ = "events:read"


def envelope(record: RecordedEvent) -> EnvelopeOut:
    return EnvelopeOut(
        position=record.position,
        event_id=str(record.event_id),
        stream_id=record.stream_id,
        stream_version=record.stream_version,
        type=record.type,
        schema_version=record.schema_version,
        effective_at=record.effective_at,
        recorded_at=record.recorded_at,
        payload=orjson.loads(record.payload),
        metadata=orjson.loads(record.metadata),
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def stream_out(stream_id: str, records: list[RecordedEvent]) -> StreamOut:
    version = records[-1].stream_version if records else 0
    return StreamOut(stream_id=stream_id, version=version, items=[envelope(r) for r in records])


@router.get("/events", response={200: EventPage, **ERRORS})
def list_events(request: HttpRequest, query: Query[EventQuery]) -> EventPage:
    """Every event after `after`, in position order; loop on `after=next_after`."""
    key = require(request, READ)
    tenant = narrowed_tenant(key, query.tenant)
    with reading() as conn:
        if tenant is not None:
            directory.party(conn, tenant)
        page = feed.page(
            conn,
            query.after,
            query.limit,
            tenant=tenant,
            stream=query.stream,
            types=(query.type,) if query.type else (),
        )
    return EventPage(items=[envelope(r) for r in page.items], next_after=page.next_after)


@router.get("/streams/{stream_id}", response={200: StreamOut, **ERRORS})
def get_stream(request: HttpRequest, stream_id: str) -> StreamOut:
    key = require(request, READ)
    with reading() as conn:
        if key.tenant is not None:
            require_tenant(key, directory.stream_tenant(conn, stream_id), "stream", stream_id)
        records = get_ledger().store.read_stream(conn, stream_id)
    if not records:
        raise NotFound("stream", stream_id)
    return stream_out(stream_id, records)
