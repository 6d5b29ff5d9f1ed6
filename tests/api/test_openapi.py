"""The OpenAPI document: the committed copy (docs/openapi.json) is what the API serves,
docs/api.md names no endpoint the API lacks, and the document works offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from contracts import openapi as document
from tests.api.conftest import API

API_MD = Path(settings.BASE_DIR) / "docs" / "api.md"
ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)")


def documented_endpoints() -> set[tuple[str, str]]:
    text = API_MD.read_text()
    section = text[text.index("## Endpoints") :]
    return {(method, _shape(path)) for method, path in ENDPOINT.findall(section)}


def _shape(path: str) -> str:
    """`/contracts/{id}` and `/contracts/{contract_id}` are the same endpoint."""
    return re.sub(r"\{[^}]+\}", "{}", path.rstrip("/"))


@pytest.fixture
def openapi(db: None) -> dict:  # type: ignore[type-arg]
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_api_md_is_there_to_compare_with() -> None:
    assert API_MD.exists(), f"{API_MD} is missing: the API contract cannot be checked"
    assert len(documented_endpoints()) > 30


def test_the_served_document_is_the_committed_one(openapi: dict) -> None:  # type: ignore[type-arg]
    """An API change is a reviewed diff of docs/openapi.json (`make openapi` rewrites it)."""
    committed = json.loads(document.COMMITTED.read_text())
    assert document.canonical(openapi) == document.canonical(committed), (
        "the API serves another document than docs/openapi.json: run `make openapi` and review"
    )


def test_the_committed_document_is_written_as_make_openapi_writes_it() -> None:
    text = document.COMMITTED.read_text()
    assert text == document.render(json.loads(text))


def test_every_served_endpoint_is_in_api_md(openapi: dict) -> None:  # type: ignore[type-arg]
    served = {
        (method.upper(), _shape(path.removeprefix("/api/v1")))
        for path, operations in openapi["paths"].items()
        for method in operations
    }
    assert served - documented_endpoints() == set()


def test_every_endpoint_of_api_md_is_in_the_openapi_document(openapi: dict) -> None:  # type: ignore[type-arg]
    served = {
        (method.upper(), _shape(path.removeprefix("/api/v1")))
        for path, operations in openapi["paths"].items()
        for method in operations
    }
    assert documented_endpoints() - served == set()


def test_error_responses_are_documented_as_problem_json(openapi: dict) -> None:  # type: ignore[type-arg]
    contract = openapi["paths"]["/api/v1/contracts/{contract_id}"]["get"]["responses"]
    assert set(contract["404"]["content"]) == {"application/problem+json"}
    assert set(contract["200"]["content"]) == {"application/json"}


def test_quantities_are_decimal_strings_in_the_schema(openapi: dict) -> None:  # type: ignore[type-arg]
    line = openapi["components"]["schemas"]["CapacityLineIn"]["properties"]["quantity"]
    assert line["type"] == "string"
    assert "pattern" in line


def test_the_docs_page_uses_only_local_assets(db: None) -> None:
    page = Client().get(f"{API}/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert Client().get(asset).status_code == 200, asset


TIMESTAMP_FIELDS = {
    "as_of",
    "recorded_at",
    "effective_at",
    "effective_since",
    "signed_at",
    "terminated_at",
    "until",
    "valid_from",
    "valid_to",
    "closed_through",
}


def test_every_timestamp_the_api_returns_is_published_as_a_date_time(openapi: dict) -> None:  # type: ignore[type-arg]
    """Response timestamps were bare strings in the document ("the reference for types"),
    so generated clients read them as text."""
    bare = []
    for name, schema in openapi["components"]["schemas"].items():
        for field, spec in schema.get("properties", {}).items():
            if field not in TIMESTAMP_FIELDS:
                continue
            options = spec.get("anyOf", [spec])
            strings = [o for o in options if o.get("type") == "string"]
            if not strings or any(o.get("format") != "date-time" for o in strings):
                bare.append(f"{name}.{field}")
    assert bare == []


def _operations(openapi: dict) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    return [
        (method, path.removeprefix("/api/v1"), operation)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
    ]


def _headers(operation: dict) -> set[str]:  # type: ignore[type-arg]
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_the_headers_of_api_md_are_declared(openapi: dict) -> None:  # type: ignore[type-arg]
    """Generated clients only send and read the headers the document declares."""
    for method, path, operation in _operations(openapi):
        success = [r for s, r in operation["responses"].items() if 200 <= int(s) < 300]
        response_headers = [set(r.get("headers", {})) for r in success]
        if method == "post":
            assert "Idempotency-Key" in _headers(operation), path
            assert all("Idempotent-Replayed" in h for h in response_headers), path
        else:
            assert "Idempotency-Key" not in _headers(operation), path
        contract_write = method == "post" and path.startswith("/contracts/{contract_id}/")
        assert ("If-Match" in _headers(operation)) == contract_write, (method, path)
        carries_etag = (method == "post" and path.startswith("/contracts")) or (
            method == "get" and path == "/contracts/{contract_id}"
        )
        assert all(("ETag" in h) == carries_etag for h in response_headers), (method, path)
        for status in ("429", "503"):
            problem = operation["responses"].get(status, {})
            if "application/problem+json" in problem.get("content", {}):
                assert "Retry-After" in problem["headers"], (path, status)


def test_health_documents_its_503_as_the_problem_it_answers(openapi: dict) -> None:  # type: ignore[type-arg]
    unhealthy = openapi["paths"]["/api/v1/health"]["get"]["responses"]["503"]
    assert unhealthy["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/UnhealthyOut"}}
    }
    healthy = openapi["paths"]["/api/v1/health"]["get"]["responses"]["200"]
    assert healthy["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/HealthOut"}}
    }


def test_a_dry_run_is_documented_as_the_write_answer_it_gives(openapi: dict) -> None:  # type: ignore[type-arg]
    schemas = openapi["components"]["schemas"]
    dry, real = schemas["ContractDryRun"]["properties"], schemas["ContractWriteOut"]["properties"]
    assert set(dry) == set(real) | {"dry_run", "events"}
    assert dry["position"]["type"] == "null"
    draft = openapi["paths"]["/api/v1/contracts"]["post"]["responses"]["201"]
    assert draft["content"]["application/json"]["schema"]["anyOf"] == [
        {"$ref": "#/components/schemas/ContractWriteOut"},
        {"$ref": "#/components/schemas/ContractDryRun"},
    ]


def test_allocation_quantities_are_published_as_positive(openapi: dict) -> None:  # type: ignore[type-arg]
    """Allocate and resize refuse "0" (422): the document must not admit it either."""
    schemas = openapi["components"]["schemas"]
    for name in ("AllocationIn", "ResizeIn"):
        pattern = re.compile(schemas[name]["properties"]["quantity"]["pattern"])
        assert [bool(pattern.search(q)) for q in ("0", "0.000", "1", "0.5")] == [
            False,
            False,
            True,
            True,
        ], name
