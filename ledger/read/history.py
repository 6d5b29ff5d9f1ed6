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
from ledger.read.views import Amounts, Cause, ChangeItem, Changes, LimitAmounts, TimelineItem
from ledger.tables import ProjectionTables, events
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
        select(t.c.valid_from, t.c.valid_to, t.c.value, t.c.known_from, t.c.known_to)
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
    units = _units(conn, snap.tables, tenant)
    found: list[tuple[ChangeItem, int]] = []
    for (kind, key), spans in windows.items():
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        series = SeriesKey(tenant, kind, key)
        before = _series_rows(conn, snap.tables, series, start, end, since)
        after = _series_rows(conn, snap.tables, series, start, end, known.position)
        unit = units.get((kind, key))
        found.extend(_diff(kind, key, unit, before, after, start, end))
    causes = _causes(conn, {position for _, position in found})
    items = [item.model_copy(update={"cause": causes[position]}) for item, position in found]
    return Changes(items=items, since_position=since, known_at=known)


def _units(conn: Connection, tables: ProjectionTables, tenant: str) -> dict[tuple[str, str], str]:
    s = tables.series
    query = select(s.c.kind, s.c.key, s.c.unit).where(
        s.c.owner == tenant, s.c.kind.in_([CAPACITY, LIMIT]), s.c.unit.is_not(None)
    )
    return {(row.kind, row.key): row.unit for row in rows(conn, query)}


def _causes(conn: Connection, positions: set[int]) -> dict[int, Cause]:
    """The events at `positions`, as causes: id, type and the reason kept with each."""
    if not positions:
        return {}
    e = events
    query = select(e.c.position, e.c.event_id, e.c.type, e.c.metadata).where(
        e.c.position.in_(sorted(positions))
    )
    return {
        row.position: Cause(
            position=row.position,
            event_id=str(row.event_id),
            type=row.type,
            reason=orjson.loads(row.metadata).get("reason"),
        )
        for row in rows(conn, query)
    }


Piece = tuple[datetime, datetime, Any]


def _diff(
    kind: str,
    key: str,
    unit: str | None,
    before: list[Any],
    after: list[Any],
    start: datetime,
    end: datetime,
) -> list[tuple[ChangeItem, int]]:
    """The intervals that differ, each with the position of the event that made it so:
    the one that wrote the row now in force, or the one that closed the row that was."""

    def pieces(rows: list[Any]) -> list[Piece]:
        return gap_filled(((row.valid_from, row.valid_to, row) for row in rows), start, end, None)

    old, new = pieces(before), pieces(after)
    cuts = sorted({p for lo, hi, _ in old + new for p in (lo, hi)})
    items: list[tuple[ChangeItem, int]] = []

    def at(found: list[Piece], moment: datetime) -> Any:
        return next((row for lo, hi, row in found if lo <= moment < hi), None)

    for lo, hi in itertools.pairwise(cuts):
        was_row, now_row = at(old, lo), at(new, lo)
        was = None if was_row is None else was_row.value
        now = None if now_row is None else now_row.value
        # Compared as amounts, not as stored: a limit set again to its value is stored
        # anew (it says since when), yet its entitlement differs nowhere.
        if was == now or _amounts(kind, was) == _amounts(kind, now):
            continue
        position = now_row.known_from if now_row is not None else was_row.known_to
        item = _change_item(kind, key, unit, lo, hi, was, now)
        if items:
            last, last_position = items[-1]
            if (
                last.valid_to == lo
                and (last.before, last.after) == (item.before, item.after)
                and last_position == position
            ):
                items[-1] = (last.model_copy(update={"valid_to": item.valid_to}), position)
                continue
        items.append((item, position))
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
    kind: str,
    key: str,
    unit: str | None,
    lo: datetime,
    hi: datetime,
    was: str | None,
    now: str | None,
) -> ChangeItem:
    where: dict[str, Any] = (
        {"resource": key}
        if kind == CAPACITY
        else dict(zip(("plan", "limit"), key.split("/", 1), strict=True))
    )
    return ChangeItem(
        **where,
        unit=unit,
        valid_from=lo,
        valid_to=None if hi == END_OF_TIME else hi,
        before=_amounts(kind, was),
        after=_amounts(kind, now),
    )
