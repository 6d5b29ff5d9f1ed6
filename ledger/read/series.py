"""Look-ups of the bitemporal series: per series the row in force at `as_of` as known at a
position, an owner's contracts as known at a position, and the views built from their rows."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, String, and_, bindparam, case, select

from ledger import exact
from ledger.canonical import parse_timestamp
from ledger.projections.projector import LIMIT
from ledger.read.views import (
    CapacityEntitlement,
    ContractShare,
    LimitView,
    NextLimit,
    WorkloadShare,
    trusted,
)
from ledger.sql.types import UtcTimestamp
from ledger.tables import KNOWN_FOREVER, ProjectionTables, projection_sets
from ledger.timeline import END_OF_TIME


def vector(value: str) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in orjson.loads(value).items()}


def total(vec: dict[str, Decimal], prefix: str) -> Decimal:
    return exact.total(q for k, q in vec.items() if k.startswith(prefix))


# The two statements every entitlement lookup runs are built once per projection set (and
# kinds), with bound parameters: building them costs more than running them.
_OWNER, _AS_OF, _POSITION = (
    bindparam("owner", type_=String()),
    bindparam("as_of", type_=UtcTimestamp()),
    bindparam("position", type_=BigInteger()),
)


def _known_rows_of_series(rows: Any, series: Any) -> tuple[Any, ...]:
    """Conditions on timeline `rows`: of the correlated `series`, as known at :position."""
    return (
        rows.c.owner == series.c.owner,
        rows.c.kind == series.c.kind,
        rows.c.key == series.c.key,
        rows.c.known_from <= _POSITION,
        rows.c.known_to > _POSITION,
    )


@functools.cache
def _in_force(tables_name: str, kinds: tuple[str, ...]) -> Any:
    """Per series of :owner: the row in force at :as_of as known at :position."""
    tables = projection_sets[tables_name]
    t, s = tables.timeline, tables.series
    inner = t.alias("candidate")
    latest = (
        select(inner.c.id)
        .where(*_known_rows_of_series(inner, s), inner.c.valid_from <= _AS_OF)
        .order_by(inner.c.valid_from.desc())
        .limit(1)
        .correlate(s)
        .scalar_subquery()
    )
    following = t.alias("following")
    next_start = (
        select(following.c.valid_from)
        .where(*_known_rows_of_series(following, s), following.c.valid_from > _AS_OF)
        .order_by(following.c.valid_from)
        .limit(1)
        .correlate(s)
        .scalar_subquery()
    )
    # A limit whose row in force ends says what comes next: the first row of its series
    # from that end on (probed only for a limit row that ends, as CASE evaluates lazily).
    successor = t.alias("successor")
    after_end = (
        select(successor.c.id)
        .where(*_known_rows_of_series(successor, s), successor.c.valid_from >= t.c.valid_to)
        .order_by(successor.c.valid_from)
        .limit(1)
        .correlate(s, t)
        .scalar_subquery()
    )
    then = t.alias("then")
    limit_ends = and_(s.c.kind == LIMIT, t.c.valid_to < END_OF_TIME)
    # An outer join: a series with no row in force at :as_of comes back with NULLs and,
    # probed only then (CASE evaluates lazily), where it starts again: until then the
    # answer holds.
    return (
        select(
            s.c.kind,
            s.c.key,
            s.c.unit,
            t.c.valid_from,
            t.c.valid_to,
            t.c.value,
            case((t.c.id.is_(None), next_start), else_=None).label("next_start"),
            then.c.valid_from.label("then_from"),
            then.c.value.label("then_value"),
        )
        .select_from(
            s.outerjoin(t, and_(t.c.id == latest, t.c.valid_to > _AS_OF)).outerjoin(
                then, and_(limit_ends, then.c.id == case((limit_ends, after_end), else_=None))
            )
        )
        .where(s.c.owner == _OWNER, s.c.kind.in_(kinds))
        .order_by(s.c.kind, s.c.key)
    )


def in_force_rows(
    conn: Connection,
    tables: ProjectionTables,
    owner: str,
    kinds: tuple[str, ...],
    as_of: datetime,
    position: int,
) -> list[Any]:
    """The series of `owner` with a row in force (see `series_states` for all of them)."""
    return [row for row in series_states(conn, tables, owner, kinds, as_of, position) if row.value]


def series_states(
    conn: Connection,
    tables: ProjectionTables,
    owner: str,
    kinds: tuple[str, ...],
    as_of: datetime,
    position: int,
) -> list[Any]:
    """Every series of `owner`, with its row in force at `as_of` (NULLs where none is)."""
    statement = _in_force(tables.name, kinds)
    params = {"owner": owner, "as_of": as_of, "position": position}
    return list(conn.execute(statement, params).all())


@functools.cache
def contracts_known_at(tables_name: str) -> Any:
    """:owner's contracts as known at :position: its current contracts (one row each,
    found by index), then per contract the version at :position (one index probe each)."""
    contracts = projection_sets[tables_name].contracts
    current, version = contracts.alias("current"), contracts.alias("version")
    candidate = contracts.alias("candidate")
    at_position = (
        select(candidate.c.id)
        .where(
            candidate.c.contract_id == current.c.contract_id,
            candidate.c.known_from <= _POSITION,
        )
        .order_by(candidate.c.known_from.desc())
        .limit(1)
        .correlate(current)
        .scalar_subquery()
    )
    # The version ids are gathered first and the versions read by primary key, with no
    # other indexable condition on them: given one (the tenant, known_to), SQLite's planner
    # drove the query from every row of the tenant closed after :position, which grows
    # with the history. The version found is in force at :position by construction (a
    # contract's rows chain without gaps); whether it still belonged to :owner then (a draft
    # can be revised to another tenant) is the caller's check on `tenant`.
    version_ids = select(at_position).where(
        current.c.tenant == _OWNER, current.c.known_to == KNOWN_FOREVER
    )
    return (
        select(
            version.c.contract_id,
            version.c.tenant,
            version.c.facility,
            version.c.lifecycle,
            version.c.term_start,
            version.c.term_end,
            version.c.terminated_at,
        )
        .where(version.c.id.in_(version_ids))
        .order_by(version.c.contract_id)
    )


def rows(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


def limit_view(row: Any) -> LimitView:
    """A limit from its row in force, and what follows it where that row ends. Built from
    the projection's own canonical JSON, like the capacity views: parsed, not validated
    again."""
    plan, limit = row.key.split("/", 1)
    data = orjson.loads(row.value)
    value = None if data["value"] is None else Decimal(data["value"])
    return trusted(
        LimitView,
        plan=plan,
        limit=limit,
        value=value,
        unlimited=data["unlimited"],
        effective_since=parse_timestamp(data["effective_since"]),
        until=None if data["until"] is None else parse_timestamp(data["until"]),
        next_change=_next_change(row, value, data["unlimited"]),
    )


def _next_change(row: Any, value: Decimal | None, unlimited: bool) -> NextLimit | None:
    if row.valid_to >= END_OF_TIME:
        return None
    if row.then_from is None or row.then_from > row.valid_to:  # nothing follows at once
        return trusted(NextLimit, at=row.valid_to, value=None, unlimited=False, removed=True)
    data = orjson.loads(row.then_value)
    following = None if data["value"] is None else Decimal(data["value"])
    if (following, data["unlimited"]) == (value, unlimited):
        return None  # stored anew (it says since when), the same limit: no change
    return trusted(
        NextLimit, at=row.valid_to, value=following, unlimited=data["unlimited"], removed=False
    )


def capacity_view(resource: str, unit: str | None, value: str) -> CapacityEntitlement:
    # The values are the projection's own canonical decimals: no need to validate them
    # again (a tenant with hundreds of workloads would pay for it on every read).
    vec = vector(value)
    contracted, allocated = total(vec, "c:"), total(vec, "w:")
    shares = sorted(vec.items())
    return trusted(
        CapacityEntitlement,
        resource=resource,
        unit=unit,
        contracted=contracted,
        allocated=allocated,
        unallocated=exact.subtract(contracted, allocated),
        contracts=[
            trusted(ContractShare, contract_id=k[2:], quantity=q)
            for k, q in shares
            if k.startswith("c:")
        ],
        workloads=[
            trusted(WorkloadShare, workload=k[2:], quantity=q)
            for k, q in shares
            if k.startswith("w:")
        ],
    )
