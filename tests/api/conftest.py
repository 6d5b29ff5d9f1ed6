"""API fixtures: keys made through the ledger, and clients that carry them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import Client

from ledger import apikeys
from ledger.demo import load_demo
from ledger.unit_of_work import Ledger

API = "/api/v1"


class ApiClient:
    """Django's test client speaking JSON to API v1 with one key."""

    def __init__(self, key: str | None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = Client(headers=headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(API + path, params, **_headers(params))

    def post(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, bytes | str) else orjson.dumps(body or {})
        return self.client.post(
            API + path, data, content_type="application/json", headers=headers or {}
        )


def _headers(params: dict[str, Any]) -> dict[str, Any]:
    headers = params.pop("headers", None)
    return {"headers": headers} if headers else {}


MakeClient = Callable[..., ApiClient]


@pytest.fixture(autouse=True)
def _no_rate_limit(settings: Any) -> None:
    settings.LEDGER_API_RATE_LIMIT = 0


@pytest.fixture
def make_client(ledger: Ledger) -> MakeClient:
    def make(*scopes: str, tenant: str | None = None) -> ApiClient:
        with ledger.write() as uow:
            _, secret = apikeys.create(
                uow.conn, "test", scopes or ("admin",), tenant, ledger.clock()
            )
        return ApiClient(secret)

    return make


@pytest.fixture
def admin(make_client: MakeClient) -> ApiClient:
    return make_client("admin")


@pytest.fixture
def demo(ledger: Ledger) -> Ledger:
    load_demo(ledger)
    return ledger


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem+json body of `response`, after checking its status and media type."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body: dict[str, Any] = orjson.loads(response.content)
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body
