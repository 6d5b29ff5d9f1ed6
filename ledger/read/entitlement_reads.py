"""A tenant's entitlements at `as_of` as known at `known_at`, their JSON, the cache of
answers, and the limits in force."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection

from ledger.canonical import format_timestamp
from ledger.domain.contract import status_at as contract_status
from ledger.projections.projector import CAPACITY, LIMIT
from ledger.read.known_at import KnownAt, knowledge, tenant_knowledge, tenant_snapshot
from ledger.read.series import (
    capacity_view,
    contracts_known_at,
    in_force_rows,
    limit_view,
    series_states,
)
from ledger.read.views import (
    CapacityEntitlement,
    ContractBrief,
    Entitlements,
    Knowledge,
    LimitView,
    TermView,
    trusted,
)
from ledger.tables import ProjectionTables
from ledger.timeline import END_OF_TIME


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
    for row in series_states(conn, tables, tenant, kinds, as_of, position):
        if row.value is None:  # nothing in force now: the answer holds until it starts
            ends.append(row.next_start or END_OF_TIME)
            continue
        ends.append(row.valid_to)
        if row.kind == CAPACITY:
            capacity.append(capacity_view(row.key, row.unit, row.value))
        else:
            limit_views.append(limit_view(row))
    briefs = []
    contracts_query = contracts_known_at(tables.name)
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
    rows = in_force_rows(conn, snap.tables, tenant, (LIMIT,), as_of, known.position)
    return [limit_view(row) for row in rows]
