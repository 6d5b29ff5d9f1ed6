"""A database that drops connections or holds a lock never makes the API or the admin
answer 500: reads retry once on a fresh connection, writes answer 503 having committed
nothing (their Idempotency-Key stays free), lock timeouts answer 503 `busy`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from sqlalchemy import Connection

from ledger import idempotency
from ledger.read import directory
from ledger.store import EventStore
from ledger.unit_of_work import Ledger
from tests.api.conftest import ApiClient, problem

pytestmark = pytest.mark.postgres


def server_url() -> str:
    s = connections["default"].settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def terminate_the_service_connections() -> int:
    """Every connection the ledger's pool holds. Django's own connection is spared: the
    test client keeps it across requests, where a server closes it after each one."""
    django = connections["default"]
    django.ensure_connection()
    spared = django.connection.info.backend_pid
    with psycopg.connect(server_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s"
            " AND backend_type = 'client backend'",
            [spared],
        ).fetchall()
    return len(rows)


def dying_once(original: Callable[..., Any]) -> Callable[..., Any]:
    """`original`, whose first call finds its connection terminated under it."""
    calls = []

    def call(conn: Connection, *args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(1)
            with psycopg.connect(server_url(), autocommit=True) as killer:
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        return original(conn, *args, **kwargs)

    return call


@pytest.fixture
def ops(db: None) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def test_requests_after_the_database_terminated_every_connection_are_answered(
    demo: Ledger, admin: ApiClient, ops: Client
) -> None:
    assert admin.get("/parties").status_code == 200  # the pool now holds connections
    assert terminate_the_service_connections() > 0

    assert admin.get("/parties").status_code == 200
    assert admin.get("/tenants/anthropic/entitlements").status_code == 200
    written = admin.post("/parties", {"id": "acme", "name": "Acme", "roles": ["tenant"]})
    assert written.status_code == 201, written.content
    assert ops.get("/admin/contracts/party/anthropic/page/").status_code == 200


def test_a_read_whose_connection_dies_under_it_answers_from_a_fresh_one(
    demo: Ledger, admin: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "parties", dying_once(directory.parties))
    listed = admin.get("/parties")
    assert listed.status_code == 200, listed.content
    assert [p["id"] for p in listed.json()["items"]] == ["anthropic", "spacex"]


def test_a_write_whose_connection_dies_answers_503_and_its_key_stays_free(
    demo: Ledger, admin: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = demo.head()
    monkeypatch.setattr(idempotency, "remember", dying_once(idempotency.remember))
    body = {"id": "acme", "name": "Acme", "roles": ["tenant"]}
    key = {"Idempotency-Key": "register-acme"}

    lost = admin.post("/parties", body, headers=key)

    refused = problem(lost, 503)
    assert refused["type"] == "/api/v1/problems/database-unavailable"
    assert lost["Retry-After"] == "1"
    assert demo.head() == head  # nothing committed
    retried = admin.post("/parties", body, headers=key)
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried


@pytest.fixture
def head_locked() -> Iterator[None]:
    """Another session holds ledger_head in ACCESS EXCLUSIVE mode until the test ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(server_url()) as conn:
            conn.execute("LOCK TABLE ledger_head IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(60)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    yield
    release.set()
    holder.join()


def test_reads_and_writes_under_a_held_head_lock_answer_503_busy(
    demo: Ledger, admin: ApiClient, ops: Client, head_locked: None, settings: Any
) -> None:
    for read in ("/tenants/anthropic/entitlements", "/events"):
        busy = admin.get(read)
        assert problem(busy, 503)["type"] == "/api/v1/problems/busy", read
        assert busy["Retry-After"] == "1"
    write = admin.post("/parties", {"id": "acme", "name": "Acme", "roles": ["tenant"]})
    assert problem(write, 503)["type"] == "/api/v1/problems/busy"
    page = ops.get("/admin/contracts/party/anthropic/page/")
    assert page.status_code == 503
    assert page["Retry-After"] == "1"


def test_an_admin_page_whose_connection_dies_under_it_is_a_503_page(
    demo: Ledger, ops: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin does not retry (a person reloads): the page says the database was lost and
    that nothing was written, and the next request is served from a fresh connection."""
    monkeypatch.setattr(directory, "party", dying_once(directory.party))
    page = ops.get("/admin/contracts/party/anthropic/page/")
    assert page.status_code == 503, page.content
    assert page["Retry-After"] == "1"
    assert b"Nothing was written" in page.content
    assert ops.get("/admin/contracts/party/anthropic/page/").status_code == 200


def test_an_admin_write_whose_connection_dies_commits_nothing_and_is_a_503_page(
    demo: Ledger, ops: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = demo.head()
    dying_append = dying_once(lambda conn, *args: EventStore.append(demo.store, conn, *args))
    monkeypatch.setattr(demo.store, "append", dying_append)
    form = {"party_id": "acme-ai", "name": "Acme AI", "roles": ["tenant"]}

    lost = ops.post("/admin/contracts/party/add/", form)

    assert lost.status_code == 503, lost.content
    assert b"Nothing was written" in lost.content
    assert demo.head() == head
    added = ops.post("/admin/contracts/party/add/", form)
    assert added.status_code == 302, added.content
    assert demo.head().position == head.position + 1
