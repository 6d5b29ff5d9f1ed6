"""Schemathesis against the live OpenAPI document: every operation, thousands of generated
requests (valid and invalid) with a valid admin key on the demo ledger. No answer may be
a 5xx, and every answer must match its documented status, media type and schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import checks

from ledger.unit_of_work import Ledger
from tests.api.conftest import MakeClient

EXAMPLES_PER_OPERATION = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "80"))
MINIMUM_REQUESTS = 2_000
REPORT = Path(settings.VAR_DIR) / "schemathesis-report.json"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]

requests_made: dict[str, int] = {}


@pytest.fixture
def admin_key(demo: Ledger, make_client: MakeClient) -> str:
    client = make_client("admin")
    return str(client.client.defaults["HTTP_AUTHORIZATION"])


# The live document, served by the application itself (its view needs no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_breaks_the_api(case: Any, admin_key: str) -> None:
    operation = f"{case.method} {case.path}"
    requests_made[operation] = requests_made.get(operation, 0) + 1
    case.call_and_validate(headers={"Authorization": admin_key}, checks=CHECKS)


def test_the_fuzzer_made_enough_requests() -> None:
    """Runs after the fuzz test (same module): records and checks how much it sent."""
    if not requests_made:
        pytest.skip("the fuzz test did not run in this session")
    total = sum(requests_made.values())
    REPORT.write_text(json.dumps({"total": total, "per_operation": requests_made}, indent=2))
    print(f"schemathesis: {total} requests over {len(requests_made)} operations")
    assert total >= MINIMUM_REQUESTS, requests_made
