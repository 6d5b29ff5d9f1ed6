"""GET /health: liveness and the ledger's head, with no key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.exc import OperationalError

from ledger.unit_of_work import Ledger
from tests.api.conftest import ApiClient, problem


def test_health_answers_the_head_without_a_key(demo: Ledger) -> None:
    response = ApiClient(None).get("/health")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert orjson.loads(response.content) == {
        "status": "ok",
        "database": "ok",
        "head_position": demo.head().position,
        "signing_key": "ok",
    }
    assert demo.head().position > 0


@pytest.mark.parametrize(
    ("pem", "status"), [("", "missing"), ("-----BEGIN PRIVATE KEY-----\nnot a key\n", "invalid")]
)
def test_health_tells_a_deployment_without_a_usable_signing_key(
    ledger: Ledger, settings: Any, tmp_path: Path, pem: str, status: str
) -> None:
    settings.LEDGER_SIGNING_KEY = pem
    settings.LEDGER_SIGNING_KEY_FILE = tmp_path / "absent.pem"

    response = ApiClient(None).get("/health")

    assert response.status_code == 200  # everything but signed exports still works
    assert orjson.loads(response.content)["signing_key"] == status
    unsigned = problem(ApiClient(None).get("/audit/public-key"), 503)
    assert unsigned["type"] == "/api/v1/problems/signing-key-missing"
    assert unsigned["detail"] == "this service has no usable signing key"  # no path leaked


def test_health_answers_503_with_its_own_body_when_the_database_does_not(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(**options: object) -> None:
        raise OperationalError("SELECT", None, ConnectionRefusedError("the server is down"))

    monkeypatch.setattr(ledger, "read", unreachable)

    response = ApiClient(None).get("/health")

    body = problem(response, 503)  # a problem, as every error is
    assert body == {
        "type": "/api/v1/problems/unhealthy",
        "title": "Service unavailable",
        "status": 503,
        "detail": "the ledger's database does not answer",
        "database": "error",
    }
    assert response["Retry-After"] == "1"
