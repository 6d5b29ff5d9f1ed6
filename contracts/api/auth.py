"""Bearer API keys: who calls, what they may do (scopes), and which tenant they see.

A tenant-bound key sees its own tenant only; anything of another tenant answers 404,
exactly as if it did not exist, so a key cannot even learn which other tenants exist.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import cast

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from contracts.api.errors import Forbidden, RateLimited
from contracts.api.ratelimit import TokenBuckets
from contracts.runtime import get_ledger
from ledger import apikeys
from ledger.apikeys import ApiKey
from ledger.errors import NotFound

_buckets = TokenBuckets()


class _KeyCache:
    """Keys recently authenticated, for LEDGER_API_KEY_CACHE_SECONDS: a revocation takes
    effect within that time in every worker. Entries are keyed by a digest of the token,
    so no secret is kept in memory longer than the request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[bytes, tuple[float, ApiKey]] = {}

    def lookup(self, token: str, ttl: float) -> ApiKey | None:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        with get_ledger().read() as conn:
            key = apikeys.authenticate(conn, token)
        if key is not None and ttl > 0:
            with self._lock:
                if len(self._keys) > 10_000:
                    self._keys.clear()
                self._keys[digest] = (now + ttl, key)
        return key


_keys = _KeyCache()


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = _keys.lookup(token, float(settings.LEDGER_API_KEY_CACHE_SECONDS))
        if key is None:
            return None
        wait = _buckets.take(
            key.key_id, float(settings.LEDGER_API_RATE_LIMIT), int(settings.LEDGER_API_RATE_BURST)
        )
        if wait:
            raise RateLimited(wait)
        return key


def require(request: HttpRequest, scope: str) -> ApiKey:
    """The caller's key, if it holds `scope` (403 otherwise)."""
    key = cast(ApiKey, request.auth)  # type: ignore[attr-defined]
    if not key.allows(scope):
        raise Forbidden(f"this API key lacks the {scope!r} scope")
    return key


def require_unbound(key: ApiKey, what: str) -> None:
    if key.tenant is not None:
        raise Forbidden(f"a tenant-bound API key cannot {what}")


def narrowed_tenant(key: ApiKey, asked: str | None, kind: str = "party") -> str | None:
    """The tenant a listing is narrowed to: the one asked for, or the key's own when it is
    bound to one (which it then must be: another tenant is answered 404, as absent)."""
    if key.tenant is None:
        return asked
    require_tenant(key, asked or key.tenant, kind, asked or key.tenant)
    return key.tenant


def require_tenant(key: ApiKey, tenant: str | None, kind: str, identifier: str) -> None:
    """404, as if it did not exist, for anything outside the key's tenant."""
    if not key.sees_tenant(tenant):
        raise NotFound(kind, identifier)
