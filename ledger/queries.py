"""Queries over the projections: what was in force when, as known when.

Every query takes `as_of` (business time) and `known_at` (a position or a timestamp) and
answers from the active projection tables. An as-of lookup reads, per series, the last
row starting at or before `as_of` among those known at `known_at`: one index probe per
series, whatever the length of the history.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Connection, String, and_, bindparam, case, or_, select

from ledger import exact
from ledger.canonical import format_timestamp, parse_timestamp
from ledger.domain import contract as contracts_domain
from ledger.domain import facility as facilities_domain
from ledger.domain import party as parties_domain
from ledger.domain.contract import status_at as contract_status
from ledger.errors import FieldError, InvalidInput, NotFound, ProjectionsStale
from ledger.projections.documents import from_document
from ledger.projections.projector import CAPACITY, FACILITY, LIMIT
from ledger.projections.series import SeriesKey
from ledger.store import EventStore
from ledger.tables import (
    KNOWN_FOREVER,
    PROJECTIONS_INCOMPLETE,
    ProjectionTables,
    UtcTimestamp,
    events,
    head,
    projection_sets,
    projection_state,
)
from ledger.timeline import END_OF_TIME, ZERO, Segment
from ledger.types import Quantity, UtcDatetime

KnownAt = int | datetime | None


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


V = TypeVar("V", bound=View)
_set_slot = object.__setattr__


def trusted(cls: type[V], **fields: Any) -> V:
    """`cls.model_construct(**fields)` for a view built from the projection's own rows,
    given every field: what `model_construct` sets (the fields, the set of fields given, no
    extra, no private), without its walk over each field's aliases and defaults. That walk
    was the largest single cost of an entitlements answer: 37 views for a tenant with 25
    shares. The views have no aliases, defaults or post-init for it to honour, and tests
    hold the two to the same result for every view built here."""
    view = cls.__new__(cls)
    _set_slot(view, "__dict__", fields)
    _set_slot(view, "__pydantic_fields_set__", set(fields))
    _set_slot(view, "__pydantic_extra__", None)
    _set_slot(view, "__pydantic_private__", None)
    return view


class Knowledge(View):
    position: int
    recorded_at: UtcDatetime | None


class ContractShare(View):
    contract_id: str
    quantity: Quantity


class WorkloadShare(View):
    workload: str
    quantity: Quantity


class CapacityEntitlement(View):
    resource: str
    unit: str | None
    contracted: Quantity
    allocated: Quantity
    unallocated: Quantity
    contracts: list[ContractShare]
    workloads: list[WorkloadShare]


class LimitView(View):
    plan: str
    limit: str
    value: Quantity | None
    unlimited: bool
    effective_since: UtcDatetime
    until: UtcDatetime | None


class TermView(View):
    start: UtcDatetime
    end: UtcDatetime


class ContractBrief(View):
    contract_id: str
    status: str
    facility: str
    term: TermView


class Entitlements(View):
    tenant: str
    as_of: UtcDatetime
    known_at: Knowledge
    capacity: list[CapacityEntitlement]
    limits: list[LimitView]
    contracts: list[ContractBrief]


class TimelineItem(View):
    resource: str
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None
    contracted: Quantity
    allocated: Quantity


class Amounts(View):
    contracted: Quantity
    allocated: Quantity


class LimitAmounts(View):
    value: Quantity | None
    unlimited: bool


class ChangeItem(View):
    resource: str | None = None
    plan: str | None = None
    limit: str | None = None
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None
    before: Amounts | LimitAmounts | None
    after: Amounts | LimitAmounts | None


class Changes(View):
    items: list[ChangeItem]
    since_position: int
    known_at: Knowledge


class CapacityLineView(View):
    resource: str
    quantity: Quantity
    unit: str | None


class AllocationView(View):
    allocation_id: str
    workload: str
    resource: str
    quantity: Quantity
    until: UtcDatetime | None
    released: bool


class ContractView(View):
    id: str
    provider: str
    tenant: str
    facility: str
    title: str
    reference: str | None
    commercial_terms: dict[str, str] | None
    status: str
    term: TermView
    capacity: list[CapacityLineView]
    allocations: list[AllocationView]
    version: int
    signed_at: UtcDatetime | None
    signed_by: list[str]
    terminated_at: UtcDatetime | None
    voided_at: UtcDatetime | None
    known_at: Knowledge


class FacilityResource(View):
    resource: str
    unit: str | None
    capacity: Quantity
    reserved: Quantity
    free: Quantity | None
    """None where a tenant-bound reader must not infer the other tenants' reservations."""


class FacilityContract(View):
    contract_id: str
    tenant: str
    resource: str
    quantity: Quantity


class FacilityView(View):
    id: str
    provider: str
    name: str
    location: str
    as_of: UtcDatetime
    known_at: Knowledge
    resources: list[FacilityResource]
    contracts: list[FacilityContract]


# -- plumbing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The active projection set and the head, read in one statement."""

    tables: ProjectionTables
    head_position: int
    head_recorded_at: datetime | None
    registered_at: int = 0
    """For a tenant's snapshot: the position of the tenant's registration."""

    def require_known(self, tenant: str, position: int) -> None:
        """404 for a tenant the ledger did not know yet at `position`."""
        if position < self.registered_at:
            raise NotFound("tenant", tenant)


_SNAPSHOT = (
    select(
        head.c.position,
        head.c.recorded_at,
        projection_state.c.active,
        projection_state.c.format,
    )
    .select_from(head.join(projection_state, projection_state.c.id == head.c.id))
    .where(head.c.id == 1)
)
_STREAM = bindparam("stream", type_=String())
_REGISTRATION = events.c.stream_id == _STREAM, events.c.stream_version == 1
_SNAPSHOT_OF_TENANT = _SNAPSHOT.add_columns(
    select(events.c.position).where(*_REGISTRATION).scalar_subquery().label("registered_at"),
    select(events.c.payload).where(*_REGISTRATION).scalar_subquery().label("registration"),
)


def snapshot(conn: Connection) -> Snapshot:
    row = conn.execute(_SNAPSHOT).one()
    _require_built(row.format)
    return Snapshot(projection_sets[row.active], row.position, row.recorded_at)


def _require_built(format: int) -> None:
    if format == PROJECTIONS_INCOMPLETE:
        raise ProjectionsStale()


def tenant_snapshot(conn: Connection, tenant: str) -> Snapshot:
    """The snapshot, read in the same statement that checks the tenant exists (404)."""
    row = conn.execute(_SNAPSHOT_OF_TENANT, {"stream": parties_domain.stream_id(tenant)}).one()
    _require_built(row.format)
    # A party that is not a tenant (a provider) has no entitlements to answer with: an
    # empty answer would read as "nothing in force" for a mistyped tenant.
    if row.registered_at is None or "tenant" not in orjson.loads(row.registration)["roles"]:
        raise NotFound("tenant", tenant)
    return Snapshot(projection_sets[row.active], row.position, row.recorded_at, row.registered_at)


def tenant_knowledge(
    conn: Connection, tenant: str, known_at: KnownAt
) -> tuple[Snapshot, Knowledge]:
    """The tenant's snapshot and what the ledger knew at `known_at`: 404 for a tenant it
    did not know then (known_at is what the ledger knew)."""
    snap = tenant_snapshot(conn, tenant)
    known = knowledge(conn, snap, known_at)
    snap.require_known(tenant, known.position)
    return snap, known


def knowledge(conn: Connection, snap: Snapshot, known_at: KnownAt) -> Knowledge:
    if known_at is None:
        return Knowledge(position=snap.head_position, recorded_at=snap.head_recorded_at)
    if isinstance(known_at, datetime):
        position = min(EventStore.position_at(conn, known_at), snap.head_position)
    else:
        position = max(0, min(known_at, snap.head_position))
    recorded = None
    if position:
        recorded = conn.execute(
            select(events.c.recorded_at).where(events.c.position == position)
        ).scalar()
    return Knowledge(position=position, recorded_at=recorded)


def _vec(value: str) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in orjson.loads(value).items()}


def _sum(vec: dict[str, Decimal], prefix: str) -> Decimal:
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
        )
        .select_from(s.outerjoin(t, and_(t.c.id == latest, t.c.valid_to > _AS_OF)))
        .where(s.c.owner == _OWNER, s.c.kind.in_(kinds))
        .order_by(s.c.kind, s.c.key)
    )


def _in_force_rows(
    conn: Connection,
    tables: ProjectionTables,
    owner: str,
    kinds: tuple[str, ...],
    as_of: datetime,
    position: int,
) -> list[Any]:
    """The series of `owner` with a row in force (see `_series_states` for all of them)."""
    return [row for row in _series_states(conn, tables, owner, kinds, as_of, position) if row.value]


def _series_states(
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
def _contracts_known_at(tables_name: str) -> Any:
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


def _rows(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


def _limit_view(key: str, value: str) -> LimitView:
    # Built from the projection's own canonical JSON, like the capacity views: parsed, not
    # validated again.
    plan, limit = key.split("/", 1)
    data = orjson.loads(value)
    return trusted(
        LimitView,
        plan=plan,
        limit=limit,
        value=None if data["value"] is None else Decimal(data["value"]),
        unlimited=data["unlimited"],
        effective_since=parse_timestamp(data["effective_since"]),
        until=None if data["until"] is None else parse_timestamp(data["until"]),
    )


def _capacity_view(resource: str, unit: str | None, value: str) -> CapacityEntitlement:
    # The values are the projection's own canonical decimals: no need to validate them
    # again (a tenant with hundreds of workloads would pay for it on every read).
    vec = _vec(value)
    contracted, allocated = _sum(vec, "c:"), _sum(vec, "w:")
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


def _contract_rows(
    conn: Connection, tables: ProjectionTables, position: int, **filters: str
) -> list[Any]:
    c = tables.contracts
    query = select(c.c.contract_id, c.c.tenant).where(
        c.c.known_from <= position, c.c.known_to > position
    )
    for column, value in filters.items():
        query = query.where(c.c[column] == value)
    return _rows(conn, query.order_by(c.c.contract_id))


BATCH = 200
"""Contracts read per statement by the contract list, and their allocations with them."""


def _allocations_at(
    conn: Connection, tables: ProjectionTables, contract_ids: Sequence[str], position: int
) -> dict[str, list[tuple[int, str]]]:
    """(version, document) of each allocation of `contract_ids` as known at `position`."""
    found: dict[str, list[tuple[int, str]]] = {c: [] for c in contract_ids}
    if not contract_ids:
        return found
    a = tables.allocations
    rows = conn.execute(
        select(a.c.contract_id, a.c.version, a.c.document).where(
            a.c.contract_id.in_(list(contract_ids)),
            a.c.known_from <= position,
            a.c.known_to > position,
        )
    )
    for contract_id, version, document in rows:
        found[contract_id].append((version, document))
    return found


def _contract_state(
    conn: Connection, tables: ProjectionTables, contract_id: str, position: int
) -> contracts_domain.Contract | None:
    c = tables.contracts
    document = conn.execute(
        select(c.c.document).where(
            c.c.contract_id == contract_id,
            c.c.known_from <= position,
            c.c.known_to > position,
        )
    ).scalar()
    if document is None:
        return None
    allocations = _allocations_at(conn, tables, [contract_id], position)[contract_id]
    return from_document(document, allocations)


# -- queries -------------------------------------------------------------------------------------


@dataclass
class _Answer:
    """What `entitlements` found for one tenant at one position, and the span of business
    time [valid_from, valid_to) over which it holds unchanged."""

    valid_from: datetime
    valid_to: datetime
    known: Knowledge
    capacity: list[CapacityEntitlement]
    limits: list[LimitView]
    contracts: list[ContractBrief]
    shared_json: bytes | None = None
    """The JSON of the fields every answer from this one shares (see `entitlements_json`),
    once rendered: it lives as long as the answer does in its cache."""


class AnswerCache:
    """Entitlement answers by (tenant, projection set, position), each with the span of
    business time it holds for.

    The rows of a projection set as known at a position never change (every write moves
    the head; a rebuild flips to the other set), so an answer computed at as_of holds for
    every as_of' in [as_of, next change), where the next change is the earliest instant
    after as_of at which a row in force ends, a later row starts, or a contract's term
    starts, ends or is cut short. "Now" only moves forward, so a billing system polling
    the current entitlements finds the answer here until the ledger or the hour changes.
    """

    def __init__(self, size: int = 4_096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str, int], _Answer] = {}

    def get(self, key: tuple[str, str, int], as_of: datetime) -> _Answer | None:
        with self._lock:
            answer = self._answers.get(key)
        if answer is not None and answer.valid_from <= as_of < answer.valid_to:
            return answer
        return None

    def clear(self) -> None:
        """Forget every answer: for a process whose database was emptied under it (tests
        do that; a ledger never rewrites the history its positions name)."""
        with self._lock:
            self._answers.clear()

    def put(self, key: tuple[str, str, int], answer: _Answer) -> None:
        with self._lock:
            if len(self._answers) >= self._size:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = answer


def entitlements(
    conn: Connection,
    tenant: str,
    as_of: datetime,
    known_at: KnownAt = None,
    cache: AnswerCache | None = None,
) -> Entitlements:
    return _view(tenant, as_of, _answer(conn, tenant, as_of, known_at, cache))


_SHARED = {"known_at", "capacity", "limits", "contracts"}


def entitlements_json(
    conn: Connection,
    tenant: str,
    as_of: datetime,
    known_at: KnownAt = None,
    cache: AnswerCache | None = None,
) -> bytes:
    """`entitlements(...).model_dump_json()`, byte for byte (tested), rendering once the
    fields that answers served from one cache entry share: only the tenant and as_of are
    each answer's own. Rendering the shared ones was the largest part of serving a cached
    answer."""
    answer = _answer(conn, tenant, as_of, known_at, cache)
    if answer.shared_json is None:
        view = _view(tenant, as_of, answer)
        answer.shared_json = view.model_dump_json(include=_SHARED).encode()
    # The fields in their declared order, as pydantic writes them: tenant, as_of, then the
    # shared ones (whose object's "{" makes way for a ",").
    return b"".join(
        (
            b'{"tenant":',
            orjson.dumps(tenant),
            b',"as_of":"',
            format_timestamp(as_of).encode(),
            b'",',
            answer.shared_json[1:],
        )
    )


def _answer(
    conn: Connection, tenant: str, as_of: datetime, known_at: KnownAt, cache: AnswerCache | None
) -> _Answer:
    snap = tenant_snapshot(conn, tenant)
    answer = None
    if cache is not None and not isinstance(known_at, datetime):
        position = snap.head_position if known_at is None else min(known_at, snap.head_position)
        snap.require_known(tenant, position)
        answer = cache.get((tenant, snap.tables.name, max(0, position)), as_of)
    if answer is None:
        known = knowledge(conn, snap, known_at)
        snap.require_known(tenant, known.position)
        answer = _entitlements(conn, snap.tables, tenant, as_of, known)
        if cache is not None:
            cache.put((tenant, snap.tables.name, known.position), answer)
    return answer


def _view(tenant: str, as_of: datetime, answer: _Answer) -> Entitlements:
    return trusted(
        Entitlements,
        tenant=tenant,
        as_of=as_of,
        known_at=answer.known,
        capacity=answer.capacity,
        limits=answer.limits,
        # Statuses change only where a term starts, ends or is cut short: never within
        # the span the answer holds for.
        contracts=answer.contracts,
    )


def _entitlements(
    conn: Connection, tables: ProjectionTables, tenant: str, as_of: datetime, known: Knowledge
) -> _Answer:
    position = known.position
    kinds = (CAPACITY, LIMIT)
    capacity, limit_views = [], []
    ends = [END_OF_TIME]
    for row in _series_states(conn, tables, tenant, kinds, as_of, position):
        if row.value is None:  # nothing in force now: the answer holds until it starts
            ends.append(row.next_start or END_OF_TIME)
            continue
        ends.append(row.valid_to)
        if row.kind == CAPACITY:
            capacity.append(_capacity_view(row.key, row.unit, row.value))
        else:
            limit_views.append(_limit_view(row.key, row.value))
    briefs = []
    contracts_query = _contracts_known_at(tables.name)
    for row in conn.execute(contracts_query, {"owner": tenant, "position": position}):
        if row.tenant != tenant:
            continue
        status = contract_status(
            row.lifecycle, row.term_start, row.term_end, row.terminated_at, as_of
        )
        ends += [t for t in (row.term_start, row.term_end, row.terminated_at) if t and t > as_of]
        if status not in ("draft", "voided"):
            briefs.append(
                trusted(
                    ContractBrief,
                    contract_id=row.contract_id,
                    status=status,
                    facility=row.facility,
                    term=trusted(TermView, start=row.term_start, end=row.term_end),
                )
            )
    return _Answer(as_of, min(ends), known, capacity, limit_views, briefs)


def limits(
    conn: Connection, tenant: str, as_of: datetime, known_at: KnownAt = None
) -> list[LimitView]:
    snap, known = tenant_knowledge(conn, tenant, known_at)
    rows = _in_force_rows(conn, snap.tables, tenant, (LIMIT,), as_of, known.position)
    return [_limit_view(row.key, row.value) for row in rows]


def _series_rows(
    conn: Connection,
    tables: ProjectionTables,
    key: SeriesKey,
    start: datetime,
    end: datetime,
    position: int,
) -> list[Any]:
    t = tables.timeline
    return _rows(
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
    return [row.key for row in _rows(conn, query.order_by(s.c.key))]


def _steps(
    rows: list[Any], start: datetime, end: datetime
) -> list[tuple[datetime, datetime, dict[str, Decimal]]]:
    """Rows clipped to [start, end), with the gaps filled by empty values."""
    result: list[tuple[datetime, datetime, dict[str, Decimal]]] = []
    cursor = start
    for row in rows:
        lo, hi = max(row.valid_from, start), min(row.valid_to, end)
        if lo > cursor:
            result.append((cursor, lo, {}))
        result.append((lo, hi, _vec(row.value)))
        cursor = hi
    if cursor < end:
        result.append((cursor, end, {}))
    return result


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
        for lo, hi, vec in _steps(rows, start, end):
            items.append(
                TimelineItem(
                    resource=name,
                    valid_from=lo,
                    valid_to=None if hi == END_OF_TIME else hi,
                    contracted=_sum(vec, "c:"),
                    allocated=_sum(vec, "w:"),
                )
            )
    return items


def changes(
    conn: Connection, tenant: str, since_position: int, known_at: KnownAt = None
) -> Changes:
    """Business-time intervals whose entitlements differ between what was known at
    `since_position` and what is known at `known_at`: what a billing system re-bills."""
    snap, known = tenant_knowledge(conn, tenant, known_at)
    if since_position > known.position and known.position < snap.head_position:
        # Inverted: known_at names a point before since_position, so there is no "later" to
        # compare with. (A known_at at or past the head is the head, as no known_at is: a
        # poller at or past it simply has nothing new.)
        raise InvalidInput(
            f"since_position {since_position} is after known_at (position {known.position})",
            [FieldError(("query", "since_position"), "must not be after known_at")],
        )
    t = snap.tables.timeline
    since = min(since_position, known.position)
    touched = _rows(
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
        result: list[tuple[datetime, datetime, str | None]] = []
        cursor = start
        for row in rows:
            lo, hi = max(row.valid_from, start), min(row.valid_to, end)
            if lo > cursor:
                result.append((cursor, lo, None))
            result.append((lo, hi, row.value))
            cursor = hi
        if cursor < end:
            result.append((cursor, end, None))
        return result

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
    vec = _vec(value) if value else {}
    return Amounts(contracted=_sum(vec, "c:"), allocated=_sum(vec, "w:"))


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


def contract(
    conn: Connection, contract_id: str, as_of: datetime, known_at: KnownAt = None
) -> ContractView:
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    state = _contract_state(conn, snap.tables, contract_id, known.position)
    if state is None:
        raise NotFound("contract", contract_id)
    return contract_view(state, as_of, known)


def contract_view(
    state: contracts_domain.Contract, as_of: datetime, known: Knowledge
) -> ContractView:
    schedule = state.schedule()
    # Quantities describe the contract's terms, so they are read inside its term even when
    # as_of is not (status says where as_of falls); an allocation not begun by then shows
    # the quantity it begins with.
    moment = state.term_instant(as_of)
    return ContractView(
        id=state.contract_id,
        provider=state.provider,
        tenant=state.tenant,
        facility=state.facility,
        title=state.title,
        reference=state.reference,
        commercial_terms=state.commercial_terms,
        status=state.status_at(as_of),
        term=TermView(start=schedule.start, end=schedule.end),
        capacity=[
            CapacityLineView(resource=r, quantity=q, unit=state.units.get(r))
            for r, q in state.capacity_at(moment).items()
            if q  # an amendment to "0" removes the resource (docs/api.md)
        ],
        allocations=[
            AllocationView(
                allocation_id=a.allocation_id,
                workload=a.workload,
                resource=a.resource,
                quantity=a.quantity_at(max(moment, a.start)),
                until=a.until,
                released=a.released,
            )
            for a in state.allocations
        ],
        version=state.version,
        signed_at=state.signed_at,
        signed_by=list(state.signed_by),
        terminated_at=state.terminated_at,
        voided_at=state.voided_at,
        known_at=known,
    )


def contracts(
    conn: Connection,
    as_of: datetime,
    known_at: KnownAt = None,
    *,
    status: str | None = None,
    after: str | None = None,
    limit: int | None = None,
    **filters: str,
) -> list[ContractView]:
    """Contracts matching `filters` (tenant, provider, facility) and `status` at `as_of`,
    ordered by id, starting after the id `after`, at most `limit` of them."""
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    c = snap.tables.contracts
    query = select(c.c.contract_id, c.c.document).where(
        c.c.known_from <= known.position, c.c.known_to > known.position
    )
    for column, value in filters.items():
        query = query.where(c.c[column] == value)
    query = query.order_by(c.c.contract_id)
    # Status is judged at as_of by the domain's rules, so a status filter reads on until the
    # page is full: in batches after the last id read, which needs no server-side cursor
    # (and so no transaction block: see `Ledger.read`).
    batch_size = BATCH if status is not None or limit is None else min(limit, BATCH)
    views: list[ContractView] = []
    if limit is not None and limit <= 0:
        return views
    last = after
    while True:
        batch_query = query if last is None else query.where(c.c.contract_id > last)
        batch = conn.execute(batch_query.limit(batch_size)).all()
        allocations = _allocations_at(
            conn, snap.tables, [row.contract_id for row in batch], known.position
        )
        for row in batch:
            state = from_document(row.document, allocations[row.contract_id])
            view = contract_view(state, as_of, known)
            if status is None or view.status == status:
                views.append(view)
                if limit is not None and len(views) >= limit:
                    return views
        if len(batch) < batch_size:
            return views
        last = batch[-1].contract_id


def facility(
    conn: Connection,
    facility_id: str,
    as_of: datetime,
    known_at: KnownAt = None,
    *,
    tenant: str | None = None,
) -> FacilityView:
    """The facility at `as_of` as known at `known_at`. Read for `tenant` (a tenant-bound
    reader), it exists only where that tenant holds a contract, and shows that tenant's
    contracts and reservations alone, with no `free`: with the capacity, it would tell what
    the other tenants reserve."""
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    records = _facility_registration(conn, facility_id, known.position)
    resources, shares = [], []
    for row in _in_force_rows(conn, snap.tables, facility_id, (FACILITY,), as_of, known.position):
        vec = _vec(row.value)
        capacity, reserved = vec.get("capacity", ZERO), _sum(vec, "r:")
        resources.append(
            FacilityResource(
                resource=row.key,
                unit=row.unit,
                capacity=capacity,
                reserved=reserved,
                free=exact.subtract(capacity, reserved),
            )
        )
        shares += [(k[2:], row.key, q) for k, q in vec.items() if k.startswith("r:")]
    tenants = {
        r.contract_id: r.tenant
        for r in _contract_rows(conn, snap.tables, known.position, facility=facility_id)
    }
    if tenant is not None:
        if tenant not in tenants.values():
            raise NotFound("facility", facility_id)  # as if it did not exist, exactly
        shares = [share for share in shares if tenants.get(share[0]) == tenant]
        own: dict[str, Decimal] = {}
        for _, resource, quantity in shares:
            own[resource] = exact.add(own.get(resource, ZERO), quantity)
        resources = [
            line.model_copy(update={"reserved": own.get(line.resource, ZERO), "free": None})
            for line in resources
        ]
    return FacilityView(
        id=facility_id,
        provider=records["provider"],
        name=records["name"],
        location=records["location"],
        as_of=as_of,
        known_at=known,
        resources=resources,
        contracts=[
            FacilityContract(contract_id=cid, tenant=tenants.get(cid, ""), resource=res, quantity=q)
            for cid, res, q in sorted(shares)
        ],
    )


def _facility_registration(conn: Connection, facility_id: str, known_at: int) -> dict[str, Any]:
    """The facility's registration, if the ledger knew of it at position `known_at`."""
    payload = conn.execute(
        select(events.c.payload).where(
            events.c.stream_id == facilities_domain.stream_id(facility_id),
            events.c.stream_version == 1,
            events.c.position <= known_at,
        )
    ).scalar()
    if payload is None:
        raise NotFound("facility", facility_id)
    result: dict[str, Any] = orjson.loads(payload)
    return result


def contract_timeline(
    conn: Connection,
    contract_id: str,
    start: datetime,
    end: datetime,
    known_at: KnownAt = None,
) -> list[TimelineItem]:
    """One contract's contracted and allocated capacity over [start, end), per resource."""
    snap = snapshot(conn)
    known = knowledge(conn, snap, known_at)
    state = _contract_state(conn, snap.tables, contract_id, known.position)
    if state is None:
        raise NotFound("contract", contract_id)
    items = []
    for resource in sorted(state.resources()):
        steps = state.contracted(resource) + state.allocated(resource, by_workload=False)
        cursor = start
        for segment in [*steps.segments(), Segment(END_OF_TIME, END_OF_TIME, {})]:
            lo, hi = max(segment.valid_from, start), min(segment.valid_to, end)
            if lo > cursor:
                items.append(_timeline_item(resource, cursor, min(lo, end), {}))
            if lo < hi:
                items.append(_timeline_item(resource, lo, hi, segment.value))
            cursor = max(cursor, hi)
            if cursor >= end:
                break
    return items


def _timeline_item(
    resource: str, lo: datetime, hi: datetime, value: Mapping[str, Decimal]
) -> TimelineItem:
    return TimelineItem(
        resource=resource,
        valid_from=lo,
        valid_to=None if hi == END_OF_TIME else hi,
        contracted=_sum(dict(value), "c:"),
        allocated=_sum(dict(value), "allocated"),
    )


def contract_lifecycle(conn: Connection, contract_id: str) -> str:
    """draft, voided, signed or terminated, as the ledger knows it now."""
    contracts = snapshot(conn).tables.contracts
    found: str | None = conn.execute(
        select(contracts.c.lifecycle).where(
            contracts.c.contract_id == contract_id, contracts.c.known_to == KNOWN_FOREVER
        )
    ).scalar()
    if found is None:
        raise NotFound("contract", contract_id)
    return found
