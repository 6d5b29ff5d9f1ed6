"""Entitlements over business time: the capacity step function over a window, for proration,
and what changed between two positions, for re-billing."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, and_, or_, select

from ledger.errors import FieldError, InvalidInput, PositionInFuture
from ledger.projections.projector import CAPACITY, LIMIT
from ledger.projections.series import SeriesKey
from ledger.read.known_at import KnownAt, tenant_knowledge
from ledger.read.series import rows, total, vector
from ledger.read.views import Amounts, ChangeItem, Changes, LimitAmounts, TimelineItem
from ledger.tables import ProjectionTables
from ledger.timeline import END_OF_TIME, gap_filled


def _series_rows(
    conn: Connection,
    tables: ProjectionTables,
    key: SeriesKey,
    start: datetime,
    end: datetime,
    position: int,
) -> list[Any]:
    t = tables.timeline
    return rows(
        conn,
        select(t.c.valid_from, t.c.valid_to, t.c.value)
        .where(
            t.c.owner == key.owner,
            t.c.kind == key.kind,
            t.c.key == key.key,
            t.c.valid_from < end,
            t.c.valid_to > start,
            t.c.known_from <= position,
            t.c.known_to > position,
        )
        .order_by(t.c.valid_from),
    )


def _resources(
    conn: Connection, tables: ProjectionTables, tenant: str, resource: str | None
) -> list[str]:
    s = tables.series
    query = select(s.c.key).where(s.c.owner == tenant, s.c.kind == CAPACITY)
    if resource is not None:
        query = query.where(s.c.key == resource)
    return [row.key for row in rows(conn, query.order_by(s.c.key))]


def timeline(
    conn: Connection,
    tenant: str,
    start: datetime,
    end: datetime,
    resource: str | None = None,
    known_at: KnownAt = None,
) -> list[TimelineItem]:
    """The capacity step function over [start, end), per resource, for proration."""
    if not start < end:
        # An empty or inverted window has no steps; answering one (valid_to before
        # valid_from) would hand a prorating biller a negative duration.
        raise InvalidInput(
            "the window is empty: `from` must be before `to`",
            [FieldError(("query", "to"), "must be after from")],
        )
    snap, known = tenant_knowledge(conn, tenant, known_at)
    items = []
    for name in _resources(conn, snap.tables, tenant, resource):
        rows = _series_rows(
            conn, snap.tables, SeriesKey(tenant, CAPACITY, name), start, end, known.position
        )
        pieces = ((row.valid_from, row.valid_to, vector(row.value)) for row in rows)
        empty: dict[str, Decimal] = {}
        for lo, hi, vec in gap_filled(pieces, start, end, empty):
            items.append(
                TimelineItem(
                    resource=name,
                    valid_from=lo,
                    valid_to=None if hi == END_OF_TIME else hi,
                    contracted=total(vec, "c:"),
                    allocated=total(vec, "w:"),
                )
            )
    return items


def changes(
    conn: Connection, tenant: str, since_position: int, known_at: KnownAt = None
) -> Changes:
    """Business-time intervals whose entitlements differ between what was known at
    `since_position` and what is known at `known_at`: what a billing system re-bills."""
    snap, known = tenant_knowledge(conn, tenant, known_at)
    if since_position > snap.head_position:
        # "Since" a position no event has reached yet: answering "nothing changed" would
        # let a poller that mistyped (or read another ledger's) position skip real changes.
        raise PositionInFuture("since_position", since_position, snap.head_position)
    if since_position > known.position and known.position < snap.head_position:
        # Inverted: known_at names a point before since_position, so there is no "later" to
        # compare with. (A known_at at or past the head is the head, as no known_at is.)
        raise InvalidInput(
            f"since_position {since_position} is after known_at (position {known.position})",
            [FieldError(("query", "since_position"), "must not be after known_at")],
        )
    t = snap.tables.timeline
    since = min(since_position, known.position)
    touched = rows(
        conn,
        select(t.c.kind, t.c.key, t.c.valid_from, t.c.valid_to)
        .where(
            t.c.owner == tenant,
            t.c.kind.in_([CAPACITY, LIMIT]),
            or_(
                and_(t.c.known_from > since, t.c.known_from <= known.position),
                and_(t.c.known_to > since, t.c.known_to <= known.position),
            ),
        )
        .order_by(t.c.kind, t.c.key, t.c.valid_from),
    )
    windows: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for row in touched:
        windows.setdefault((row.kind, row.key), []).append((row.valid_from, row.valid_to))
    items: list[ChangeItem] = []
    for (kind, key), spans in windows.items():
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        series = SeriesKey(tenant, kind, key)
        before = _series_rows(conn, snap.tables, series, start, end, since)
        after = _series_rows(conn, snap.tables, series, start, end, known.position)
        items.extend(_diff(kind, key, before, after, start, end))
    return Changes(items=items, since_position=since, known_at=known)


def _diff(
    kind: str, key: str, before: list[Any], after: list[Any], start: datetime, end: datetime
) -> list[ChangeItem]:
    def values(rows: list[Any]) -> list[tuple[datetime, datetime, str | None]]:
        pieces = ((row.valid_from, row.valid_to, row.value) for row in rows)
        return gap_filled(pieces, start, end, None)

    old, new = values(before), values(after)
    cuts = sorted({p for lo, hi, _ in old + new for p in (lo, hi)})
    items: list[ChangeItem] = []

    def at(pieces: list[tuple[datetime, datetime, str | None]], moment: datetime) -> str | None:
        return next((v for lo, hi, v in pieces if lo <= moment < hi), None)

    for lo, hi in itertools.pairwise(cuts):
        was, now = at(old, lo), at(new, lo)
        # Compared as amounts, not as stored: a limit set again to its value is stored
        # anew (it says since when), yet its entitlement differs nowhere.
        if was == now or _amounts(kind, was) == _amounts(kind, now):
            continue
        if items and items[-1].valid_to == lo and _same(items[-1], kind, key, was, now):
            items[-1] = items[-1].model_copy(update={"valid_to": None if hi == END_OF_TIME else hi})
            continue
        items.append(_change_item(kind, key, lo, hi, was, now))
    return items


def _amounts(kind: str, value: str | None) -> Amounts | LimitAmounts | None:
    if kind == LIMIT:
        if value is None:
            return None
        data = orjson.loads(value)
        return LimitAmounts(value=data["value"], unlimited=data["unlimited"])
    vec = vector(value) if value else {}
    return Amounts(contracted=total(vec, "c:"), allocated=total(vec, "w:"))


def _change_item(
    kind: str, key: str, lo: datetime, hi: datetime, was: str | None, now: str | None
) -> ChangeItem:
    where: dict[str, Any] = (
        {"resource": key}
        if kind == CAPACITY
        else dict(zip(("plan", "limit"), key.split("/", 1), strict=True))
    )
    return ChangeItem(
        **where,
        valid_from=lo,
        valid_to=None if hi == END_OF_TIME else hi,
        before=_amounts(kind, was),
        after=_amounts(kind, now),
    )


def _same(item: ChangeItem, kind: str, key: str, was: str | None, now: str | None) -> bool:
    return item.before == _amounts(kind, was) and item.after == _amounts(kind, now)
