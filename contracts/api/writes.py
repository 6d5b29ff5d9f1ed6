"""The one write path of the API: request -> ledger command -> the answer, rendered in
the command's own transaction so that an idempotent replay returns the same bytes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, cast

import orjson
from django.http import HttpRequest, HttpResponse
from pydantic import BaseModel
from sqlalchemy import Connection

from contracts.api.errors import PROBLEM, refusal
from contracts.api.rendering import to_json
from contracts.runtime import get_ledger
from ledger.apikeys import ApiKey
from ledger.canonical import canonical_json, canonical_model_json
from ledger.domain.commands import Command
from ledger.errors import FieldError, InvalidInput, NonCanonicalValue
from ledger.service import (
    Accepted,
    Answer,
    Context,
    IdempotencyRequest,
    Refusal,
    Replayed,
    execute,
)

Render = Callable[[Connection, Accepted], BaseModel]

JSON = "application/json"
CONTENT_TYPE = "Content-Type"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PRINTABLE_ASCII = re.compile(r"[ -~]+")
"""What the document publishes for the key (as the IETF draft's sf-string allows)."""


def _idempotency(request: HttpRequest, key: ApiKey) -> IdempotencyRequest | None:
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    if not 0 < len(value) <= MAX_KEY_LENGTH or not PRINTABLE_ASCII.fullmatch(value):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            [FieldError(("header", IDEMPOTENCY_HEADER), "1 to 255 printable ASCII characters")],
        )
    # The same key with the same method, path, query and body is the same request. The body
    # and query are compared as data, not bytes: a client that re-encodes its retry (other
    # key order, other spacing) is still repeating it.
    query = sorted(request.GET.lists())
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, orjson.dumps(query), _body_as_data(request)):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return IdempotencyRequest(
        scope=f"api-key:{key.key_id}", key=value, fingerprint=digest.hexdigest()
    )


def _body_as_data(request: HttpRequest) -> bytes:
    """The body's canonical JSON; its bytes as they came if it is not JSON the ledger could
    hold (such a request is refused anyway, and the same bytes are still the same request)."""
    try:
        return canonical_json(orjson.loads(request.body))
    except (orjson.JSONDecodeError, NonCanonicalValue):
        return b"\1" + request.body  # never equal to a canonical form


VERSION_ETAG = re.compile(r'(?:W/)?"([0-9]+)"|([0-9]+)', re.ASCII)
"""A contract's ETag (`"3"`, weak `W/"3"`), or its bare version (`3`)."""
BEYOND_ANY_VERSION = 2**53
"""What a pin to a version no stream can reach becomes: it fails as any stale pin does."""


def pinned_version(request: HttpRequest) -> int | None:
    """The contract version an If-Match header pins (`"3"`, `W/"3"` or `*` for none)."""
    value = request.headers.get("If-Match")
    if value is None or value.strip() == "*":
        return None
    match = VERSION_ETAG.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(
            'If-Match must be a contract version ETag such as "3"',
            [FieldError(("header", "If-Match"), "not a version ETag")],
        )
    digits = (match[1] or match[2]).lstrip("0") or "0"
    # Bounded before int(): Python refuses to convert more than 4,300 digits.
    return int(digits) if len(digits) <= 16 else BEYOND_ANY_VERSION


def _planned(accepted: Accepted) -> list[dict[str, Any]]:
    """The events a dry run appended before rolling back, as PlannedEvent: each event as
    its model encodes it (the current schema) and the metadata the ledger stored with it,
    embedded as canonical JSON."""
    return [
        {
            "stream_id": record.stream_id,
            "type": new.event.event_type,
            "schema_version": new.event.schema_version,
            "effective_at": record.effective_at,
            "payload": orjson.Fragment(canonical_model_json(new.event)),
            "metadata": orjson.Fragment(record.metadata),
        }
        for record, new in zip(accepted.events, accepted.decided, strict=True)
    ]


def run(
    request: HttpRequest,
    key: ApiKey,
    command: Command,
    render: Render,
    *,
    status: int = 201,
    dry_run: bool = False,
    pinned: int | None = None,
    etag: bool = False,
) -> HttpResponse:
    ctx = Context(
        actor=f"api-key:{key.key_id}",
        source="api",
        correlation_id=(request.headers.get("X-Request-ID") or "")[:100] or None,
        expected_version=pinned,
        dry_run=dry_run,
        idempotency=None if dry_run else _idempotency(request, key),
        tenant_scope=key.tenant,
    )

    def answer(conn: Connection, accepted: Accepted) -> Answer:
        view = render(conn, accepted)
        if dry_run:  # the write's own answer, what it would append, and no position:
            # what the answer was read at was rolled back, that position will be another's.
            body = view.model_dump(mode="json") | {"position": None, "known_at": None}
            body |= {"dry_run": True, "events": _planned(accepted)}
            return Answer(status, to_json(body), ((CONTENT_TYPE, JSON),))
        headers: tuple[tuple[str, str], ...] = ((CONTENT_TYPE, JSON),)
        if etag:
            headers += (("ETag", f'"{cast(Any, view).version}"'),)
        return Answer(status, to_json(view), headers)

    def refuse(exc: Refusal) -> Answer:
        refused = refusal(exc)
        return Answer(refused.status_code, refused.content, ((CONTENT_TYPE, PROBLEM),))

    outcome = execute(get_ledger(), command, ctx, render=answer, refuse=refuse)
    assert outcome.answer is not None
    answered = outcome.answer
    headers = answered.headers or _headers_kept_before_0007(answered, etag)
    response = HttpResponse(answered.body, status=answered.code)
    for name, value in headers:
        response[name] = value
    if isinstance(outcome, Replayed):
        response["Idempotent-Replayed"] = "true"
    return response


def _headers_kept_before_0007(answered: Answer, etag: bool) -> tuple[tuple[str, str], ...]:
    """The headers of an answer kept by an idempotency record written before records kept
    them (alembic 0007): rebuilt as they were sent then. Such records expire with the
    retention window (docs/api.md), and this goes with them."""
    if answered.code >= 400:
        return ((CONTENT_TYPE, PROBLEM),)
    if etag:
        return ((CONTENT_TYPE, JSON), ("ETag", f'"{orjson.loads(answered.body)["version"]}"'))
    return ((CONTENT_TYPE, JSON),)
