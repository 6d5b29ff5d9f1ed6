"""JSON out, the ledger's way: decimals as plain strings, instants as RFC 3339 UTC with
microseconds, so that what the API says is exactly what the ledger hashed."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from django.http import HttpRequest
from ninja.renderers import BaseRenderer
from pydantic import BaseModel

from ledger.canonical import format_decimal, format_timestamp
from ledger.queries import Entitlements


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


class LedgerRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        return to_json(data)


_SHARED = {"known_at", "capacity", "limits", "contracts"}


class EntitlementsJson:
    """Entitlement answers as JSON, exactly `model_dump_json()`, with what answers share
    rendered once.

    Answers served from one entry of the answer cache (`ledger.queries.AnswerCache`) share
    their knowledge, capacity, limits and contracts, objects and all; only the tenant and
    as_of are their own. Rendering those shared parts was the largest part of serving a
    cached answer, so they are rendered once per entry (recognised by identity, and held
    here so that identity cannot be reused) and the answer's own fields are put in front.
    """

    def __init__(self, size: int = 4_096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._rendered: dict[int, tuple[tuple[object, ...], bytes]] = {}

    def __call__(self, answer: Entitlements) -> bytes:
        shared = (answer.known_at, answer.capacity, answer.limits, answer.contracts)
        entry = self._rendered.get(id(answer.capacity))
        if entry is not None and all(a is b for a, b in zip(entry[0], shared, strict=True)):
            tail = entry[1]
        else:
            tail = answer.model_dump_json(include=_SHARED).encode()
            with self._lock:
                if len(self._rendered) >= self._size:
                    self._rendered.pop(next(iter(self._rendered)))
                self._rendered[id(answer.capacity)] = (shared, tail)
        # The fields in their declared order, as pydantic writes them: tenant, as_of, then
        # the shared ones (`tail` is their object; its "{" makes way for a ",").
        return b"".join(
            (
                b'{"tenant":',
                orjson.dumps(answer.tenant),
                b',"as_of":"',
                format_timestamp(answer.as_of).encode(),
                b'",',
                tail[1:],
            )
        )
