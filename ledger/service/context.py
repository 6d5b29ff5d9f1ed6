"""Who asks for a command, from where, and how."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.events import Source


@dataclass(frozen=True)
class IdempotencyRequest:
    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Context:
    """Who asks, from where, and how: pinned version, dry run, idempotency key, and the
    one tenant whose data the caller may touch (None: every tenant's)."""

    actor: str | None = None
    source: Source = "api"
    correlation_id: str | None = None
    expected_version: int | None = None
    dry_run: bool = False
    idempotency: IdempotencyRequest | None = None
    tenant_scope: str | None = None
