"""Schemathesis against the live OpenAPI document: every operation, thousands of generated
requests (valid and invalid) with a valid admin key on the demo ledger. No answer may be
a 5xx, every answer must match its documented status, media type and schema, and no
request the document admits may be refused as invalid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import checks
from schemathesis.openapi.checks import RejectedPositiveData

from ledger.unit_of_work import Ledger
from tests.api.conftest import MakeClient

EXAMPLES_PER_OPERATION = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "80"))
MINIMUM_PER_OPERATION = 20
"""An operation that takes input must have been exercised at least this often."""
BEYOND_THE_SCHEMA = {
    ("invalid", ("query", "cursor"), "invalid cursor"),
    ("invalid", ("query", "to"), "must be after from"),
    ("invalid", ("body", "capacity", "*", "resource"), "duplicate resource"),
    ("idempotency-key-reused", ("header", "Idempotency-Key"), "used for another request"),
}
"""The refusals docs/api.md lists under "What the schema cannot say", as (problem type,
field, message): a cursor this API did not hand out, a window whose `to` is not after its
`from`, a resource listed twice in one capacity list, and an Idempotency-Key already used
for another request. Each depends on other values or on earlier requests, which JSON
Schema cannot express; every other 422 is a request the document should not admit."""
OUT_OF_RANGE_INSTANT = "Value error, the instant falls outside the years 0001 to 9999 in UTC"
"""The fifth, in any timestamp field: an offset that moves an instant past year 1 or 9999
in UTC (`0001-01-01T00:00:01+00:04`), which the date-time format cannot exclude."""


def beyond_the_schema(body: dict[str, Any]) -> bool:
    """Whether a 422 names only refusals of `BEYOND_THE_SCHEMA`."""
    kind = str(body.get("type", "")).rsplit("/", 1)[-1]
    fields = {
        (kind, tuple("*" if isinstance(part, int) else part for part in error["loc"]), error["msg"])
        for error in body.get("errors") or ()
    }
    listed = {
        field for field in fields if field[2] != OUT_OF_RANGE_INSTANT or field[0] != "invalid"
    }
    return bool(fields) and listed <= BEYOND_THE_SCHEMA


def test_only_the_listed_refusals_pass_as_beyond_the_schema() -> None:
    def refusal(kind: str, *errors: tuple[list[str | int], str]) -> dict[str, Any]:
        listed = [{"loc": loc, "msg": msg} for loc, msg in errors]
        return {"type": f"/api/v1/problems/{kind}", "errors": listed}

    cursor = (["query", "cursor"], "invalid cursor")
    twice = (["body", "capacity", 3, "resource"], "duplicate resource")
    assert beyond_the_schema(refusal("invalid", cursor))
    assert beyond_the_schema(refusal("invalid", cursor, twice))
    assert not beyond_the_schema(refusal("invalid"))
    assert not beyond_the_schema(refusal("invalid", cursor, (["body", "title"], "too short")))
    assert not beyond_the_schema(refusal("idempotency-key-reused", cursor))
    assert not beyond_the_schema(refusal("invalid", (["query", "cursor"], "field required")))
    far = (["body", "term", "start"], OUT_OF_RANGE_INSTANT)
    assert beyond_the_schema(refusal("invalid", far))
    assert beyond_the_schema(refusal("invalid", far, cursor))
    assert not beyond_the_schema(refusal("invalid", far, (["body", "title"], "too short")))


def accepts_what_the_schema_admits(ctx: Any, response: Any, case: Any) -> bool | None:
    try:
        return checks.positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 422 and beyond_the_schema(response.json()):
            return None
        raise


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    accepts_what_the_schema_admits,
]


@pytest.fixture
def admin_key(demo: Ledger, make_client: MakeClient) -> str:
    client = make_client("admin")
    return str(client.client.defaults["HTTP_AUTHORIZATION"])


# The live document, served by the application itself (its view needs no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


def takes_input(method: str, path: str) -> bool:
    """Whether the document gives `method path` parameters or a body to vary."""
    operation = schema.raw_schema["paths"].get(path, {}).get(method.lower())
    return bool(operation and (operation.get("parameters") or operation.get("requestBody")))


@pytest.fixture
def requests_made() -> Iterator[list[str]]:
    """The operations this test item called, one entry per request, checked afterwards:
    each item counts its own, so it passes alone and in any order."""
    made: list[str] = []
    yield made
    assert len(made) > 1, "the fuzzer sent no request to the operation"
    operation = made[0]
    method, path = operation.split(" ", 1)
    sent = sum(1 for request in made[1:] if request == operation)
    if takes_input(method, path):
        assert sent >= MINIMUM_PER_OPERATION, (operation, sent)


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_breaks_the_api(case: Any, admin_key: str, requests_made: list[str]) -> None:
    if not requests_made:
        requests_made.append(f"{case.operation.method.upper()} {case.operation.path}")
    requests_made.append(f"{case.method} {case.path}")
    case.call_and_validate(headers={"Authorization": admin_key}, checks=CHECKS)
