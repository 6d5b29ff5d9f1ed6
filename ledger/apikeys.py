"""API keys: who may call the REST API, with which scopes, and for which tenant.

A key reads `lk_<key id>.<secret>`. Only a salted SHA-256 of the secret is stored, so a
leaked table does not leak keys; the secret has 256 bits of entropy, which is why a fast
hash is enough (a password would need a slow one). The key is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from ledger.errors import FieldError, InvalidInput, NotFound
from ledger.tables import api_keys

SCOPES = (
    "entitlements:read",
    "contracts:read",
    "contracts:write",
    "limits:write",
    "events:read",
    "audit:export",
    "admin",
)
ADMIN = "admin"
PREFIX = "lk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    tenant: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return ADMIN in self.scopes or scope in self.scopes

    def sees_tenant(self, tenant: str | None) -> bool:
        """A tenant-bound key sees its own tenant only; an unbound key sees every one."""
        return self.tenant is None or tenant == self.tenant


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(row.scopes.split()),
        tenant=row.tenant,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create(
    conn: Connection, name: str, scopes: Iterable[str], tenant: str | None, now: datetime
) -> tuple[ApiKey, str]:
    """Store a new key; returns it with its plaintext, which is never stored or shown again."""
    wanted = tuple(dict.fromkeys(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if not name.strip():
        raise InvalidInput("a key needs a name", [FieldError(("name",), "required")])
    if not wanted or unknown:
        raise InvalidInput(
            f"unknown or missing scope(s) {unknown}; choose from {', '.join(SCOPES)}",
            [FieldError(("scope",), "unknown scope")],
        )
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
    conn.execute(
        insert(api_keys).values(
            key_id=key_id,
            name=name.strip(),
            scopes=" ".join(wanted),
            tenant=tenant,
            salt=salt,
            secret_hash=_digest(salt, secret),
            created_at=now,
        )
    )
    key = ApiKey(key_id, name.strip(), frozenset(wanted), tenant, now)
    return key, f"{PREFIX}{key_id}.{secret}"


def authenticate(conn: Connection, presented: str) -> ApiKey | None:
    """The live key `presented` stands for, or None (unknown, malformed, wrong or revoked)."""
    if not presented.startswith(PREFIX) or "." not in presented:
        return None
    key_id, secret = presented[len(PREFIX) :].split(".", 1)
    row = conn.execute(
        select(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
    ).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(row.salt, secret)):
        return None
    return _key(row)


def list_keys(conn: Connection) -> list[ApiKey]:
    rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id))
    return [_key(row) for row in rows]


def revoke(conn: Connection, key_id: str, now: datetime) -> ApiKey:
    """Revoke a key for good; revoking it again keeps the first revocation time."""
    key_id = key_id.removeprefix(PREFIX).split(".", 1)[0]
    conn.execute(
        update(api_keys)
        .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
    if row is None:
        raise NotFound("API key", key_id)
    return _key(row)
