"""Idempotency records: a retried request gets the first answer instead of a second append.

A record is written in the same transaction as the append it belongs to, so either both
exist or neither does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from ledger.canonical import canonical_json
from ledger.errors import IdempotencyConflict, IdempotencyRace, InvalidInput
from ledger.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    scope: str
    key: str
    fingerprint: str
    code: int
    """The adapter's code for its answer (the `status_code` column): never read here."""
    response: str
    position: int | None
    headers: tuple[tuple[str, str], ...] | None = None
    """The answer's headers; None in a record kept before they were (schema 0007)."""


def fingerprint(request: Any) -> str:
    """A stable digest of a request: same operation and body, same fingerprint."""
    return hashlib.sha256(canonical_json(request)).hexdigest()


def find(
    conn: Connection, scope: str, key: str, request_fingerprint: str
) -> IdempotencyRecord | None:
    """The record stored for `key`, or None; a different request under it is an error."""
    row = conn.execute(
        select(
            idempotency_keys.c.scope,
            idempotency_keys.c.key,
            idempotency_keys.c.fingerprint,
            idempotency_keys.c.status_code,
            idempotency_keys.c.response,
            idempotency_keys.c.position,
            idempotency_keys.c.headers,
        ).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
    ).one_or_none()
    if row is None:
        return None
    headers = None if row.headers is None else tuple(map(tuple, orjson.loads(row.headers)))
    record = IdempotencyRecord(
        row.scope, row.key, row.fingerprint, row.status_code, row.response, row.position, headers
    )
    if record.fingerprint != request_fingerprint:
        raise IdempotencyConflict(key)
    return record


def remember(conn: Connection, record: IdempotencyRecord, now: datetime) -> None:
    """Store `record`; raises `IdempotencyRace` if a concurrent request stored it first."""
    try:
        conn.execute(
            insert(idempotency_keys).values(
                scope=record.scope,
                key=record.key,
                fingerprint=record.fingerprint,
                status_code=record.code,
                response=record.response,
                position=record.position,
                headers=None if record.headers is None else orjson.dumps(record.headers).decode(),
                created_at=now,
            )
        )
    except IntegrityError as exc:
        raise IdempotencyRace(f"idempotency key {record.key!r} was recorded concurrently") from exc


MIN_RETENTION = timedelta(hours=24)
"""docs/api.md promises that keys are kept at least this long."""


def purge(conn: Connection, now: datetime, keep: timedelta = MIN_RETENTION) -> int:
    """Forget records older than `keep` (never less than a day); returns how many."""
    if keep < MIN_RETENTION:
        raise InvalidInput(f"idempotency records are kept at least {MIN_RETENTION}")
    result = conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < now - keep)
    )
    return int(result.rowcount)
