"""Idempotency under concurrency, on PostgreSQL with real threads: many identical POSTs
with one Idempotency-Key append exactly once, and every caller gets the same answer."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ledger.unit_of_work import Ledger
from tests.api.conftest import MakeClient

pytestmark = pytest.mark.postgres

THREADS = 8
LIMIT = {
    "plan": "claude-code-pro",
    "limit": "requests-per-5h",
    "operation": "scale",
    "factor": "2",
    "effective_at": "2026-12-01T00:00:00Z",
    "reason": "holiday boost",
}


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_identical_posts_append_once(
    demo: Ledger, make_client: MakeClient, round_: int
) -> None:
    client = make_client("limits:write")
    head = demo.head().position
    barrier = threading.Barrier(THREADS)
    answers: list[Any] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        response = client.post(
            "/tenants/anthropic/limits", LIMIT, headers={"Idempotency-Key": f"boost-{round_}"}
        )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=post) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [201] * THREADS, [a.content for a in answers]
    assert len({a.content for a in answers}) == 1
    assert sum(a.get("Idempotent-Replayed") == "true" for a in answers) == THREADS - 1
    assert demo.head().position == head + 1
    # A scale applied once: 90 doubled is 180 (applied twice it would be 360).
    assert answers[0].json()["value"] == "180"
