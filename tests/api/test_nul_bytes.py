"""A NUL character never reaches a query: PostgreSQL cannot store or compare one (it was a
500 there), and SQLite must answer the same. Ids in a path name nothing (404); query
parameters and free text in bodies are invalid (422 naming them); nothing is written."""

from __future__ import annotations

import orjson
import pytest

from ledger.demo import LEASE, ORBITAL
from ledger.unit_of_work import Ledger
from tests.api.conftest import API, ApiClient, problem


@pytest.mark.parametrize(
    "path",
    [
        "/contracts/x%00",
        "/contracts/%00/events",
        "/streams/x%00",
        "/parties/anthropic%00",
        "/facilities/colossus-1%00",
        "/tenants/anthropic%00/entitlements",
    ],
)
def test_a_nul_in_a_path_names_nothing(demo: Ledger, admin: ApiClient, path: str) -> None:
    body = problem(admin.client.get(API + path), 404)
    assert "NUL" in body["detail"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("/events?stream=%00", "stream"),
        ("/events?type=%00", "type"),
        ("/events?tenant=anthropic%00", "tenant"),
        ("/contracts?tenant=%00", "tenant"),
        ("/tenants/anthropic/entitlements?as_of=2026-07-01T00:00:00Z%00", "as_of"),
    ],
)
def test_a_nul_in_a_query_parameter_is_invalid(
    demo: Ledger, admin: ApiClient, query: str, parameter: str
) -> None:
    body = problem(admin.client.get(API + query), 422)
    assert body["errors"] == [{"loc": ["query", parameter], "msg": "must not contain NUL"}]


@pytest.mark.parametrize("listing", ["/parties", "/contracts"])
@pytest.mark.parametrize("cursor", ["AA", "YQB6", "QUJD", "LS0t"])  # "\0", "a\0z", "ABC", "---"
def test_a_cursor_that_decodes_to_no_id_is_invalid(
    demo: Ledger, admin: ApiClient, listing: str, cursor: str
) -> None:
    body = problem(admin.get(listing, cursor=cursor), 422)
    assert body["errors"] == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]


def test_a_cursor_the_api_handed_out_still_pages(demo: Ledger, admin: ApiClient) -> None:
    first = admin.get("/parties", limit=1).json()
    second = admin.get("/parties", limit=1, cursor=first["next_cursor"]).json()
    assert [p["id"] for p in first["items"] + second["items"]] == ["anthropic", "spacex"]


WRITES = [
    ("/parties", {"id": "acme", "name": "Acme\u0000", "roles": ["tenant"]}, ["body", "name"]),
    (
        "/facilities",
        {
            "id": "dc-2",
            "provider": "spacex",
            "name": "DC 2",
            "location": "Memphis\u0000",
            "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
        },
        ["body", "location"],
    ),
    (
        f"/contracts/{ORBITAL}/revise",
        {"commercial_terms": {"price": "1\u0000"}},
        ["body", "commercial_terms", "price"],
    ),
    (f"/contracts/{ORBITAL}/revise", {"reference": "PO\u00007"}, ["body", "reference"]),
    (f"/contracts/{ORBITAL}/void", {"reason": "typo\u0000"}, ["body", "reason"]),
    (
        f"/contracts/{LEASE}/terminate",
        {"effective_at": "2027-01-01T00:00:00Z", "reason": "\u0000"},
        ["body", "reason"],
    ),
]


@pytest.mark.parametrize(("path", "body", "loc"), WRITES)
def test_a_nul_in_free_text_is_refused_and_nothing_is_written(
    demo: Ledger, admin: ApiClient, path: str, body: dict[str, object], loc: list[object]
) -> None:
    head = demo.head()
    refused = problem(admin.post(path, orjson.dumps(body).decode()), 422)
    assert loc in [error["loc"] for error in refused["errors"]], refused
    assert demo.head() == head
