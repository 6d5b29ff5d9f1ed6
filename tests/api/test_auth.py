"""Keys, scopes and tenant binding, operation by operation: 401, 403, and 404 across tenants."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import pytest
from django.core.management import call_command
from django.test import Client

from ledger import apikeys
from ledger.demo import LEASE, ORBITAL
from ledger.unit_of_work import Ledger
from tests.api.conftest import ApiClient, MakeClient, problem


class Op(NamedTuple):
    method: str
    path: str
    scope: str
    body: dict[str, Any] | None = None
    tenant_scoped: bool = True  # does it touch one tenant's data (404 for other tenants)?


NOW = "2026-07-01T00:00:00Z"
OPERATIONS = [
    Op("get", "/parties", "contracts:read", tenant_scoped=False),
    Op("get", "/parties/anthropic", "contracts:read"),
    Op("post", "/parties", "contracts:write", {"id": "x", "name": "X", "roles": ["tenant"]}, False),
    Op("get", "/facilities/colossus-1", "contracts:read"),  # acme-ai leases nothing there
    Op(
        "post",
        "/facilities",
        "contracts:write",
        {
            "id": "f",
            "provider": "spacex",
            "name": "F",
            "location": "L",
            "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
        },
        False,
    ),
    Op(
        "post",
        "/facilities/colossus-1/capacity",
        "contracts:write",
        {
            "capacity": [{"resource": "gpu.h100", "quantity": "230000", "unit": "gpu"}],
            "effective_at": "2026-11-01T00:00:00Z",
            "reason": "expansion",
        },
        False,
    ),
    Op(
        "post",
        "/contracts",
        "contracts:write",
        {
            "provider": "spacex",
            "tenant": "anthropic",
            "facility": "colossus-1",
            "title": "T",
            "term": {"start": "2029-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
            "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
        },
    ),
    Op("get", "/contracts", "contracts:read", tenant_scoped=False),
    Op("get", f"/contracts/{LEASE}", "contracts:read"),
    Op("get", f"/contracts/{LEASE}/events", "contracts:read"),
    Op("post", f"/contracts/{ORBITAL}/revise", "contracts:write", {"title": "Orbital"}),
    Op("post", f"/contracts/{ORBITAL}/void", "contracts:write", {"reason": "not pursued"}),
    Op("post", f"/contracts/{ORBITAL}/sign", "contracts:write", {"signed_by": ["A"]}),
    Op(
        "post",
        f"/contracts/{LEASE}/amendments",
        "contracts:write",
        {"effective_at": NOW, "term_end": "2028-06-01T00:00:00Z", "reason": "extension"},
    ),
    Op(
        "post",
        f"/contracts/{LEASE}/terminate",
        "contracts:write",
        {"effective_at": "2028-01-01T00:00:00Z", "reason": "ended early"},
    ),
    Op(
        "post",
        f"/contracts/{LEASE}/allocations",
        "contracts:write",
        {"workload": "eval", "resource": "gpu.h100", "quantity": "1"},
    ),
    Op(
        "post",
        f"/contracts/{LEASE}/allocations/alc_training/resize",
        "contracts:write",
        {"quantity": "40000", "reason": "shrink"},
    ),
    Op("post", f"/contracts/{LEASE}/allocations/alc_training/release", "contracts:write", {}),
    Op(
        "post",
        "/tenants/anthropic/limits",
        "limits:write",
        {"plan": "p", "limit": "l", "operation": "set", "value": "1", "reason": "r"},
    ),
    Op("get", "/tenants/anthropic/limits", "entitlements:read"),
    Op(
        "post",
        "/tenants/anthropic/periods/close",
        "contracts:write",
        {"through": "2026-06-01T00:00:00Z"},
    ),
    Op(
        "post",
        "/tenants/anthropic/periods/reopen",
        "contracts:write",
        {"through": "2026-05-01T00:00:00Z", "reason": "invoice reissued"},
    ),
    Op("get", "/tenants/anthropic/periods", "entitlements:read"),
    Op("get", "/tenants/anthropic/entitlements", "entitlements:read"),
    Op(
        "get",
        "/tenants/anthropic/entitlements/timeline?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
        "entitlements:read",
    ),
    Op("get", "/tenants/anthropic/entitlements/changes?since_position=1", "entitlements:read"),
    Op("get", "/events", "events:read", tenant_scoped=False),
    Op("get", "/streams/party-anthropic", "events:read"),
    Op("get", f"/streams/contract-{LEASE}", "events:read"),
    Op("get", "/audit/verify", "audit:export", tenant_scoped=False),
]
IDS = [f"{op.method.upper()} {op.path.split('?')[0]}" for op in OPERATIONS]


def call(client: ApiClient, op: Op) -> Any:
    return client.get(op.path) if op.method == "get" else client.post(op.path, op.body)


@pytest.fixture
def other_tenant(demo: Ledger, admin: ApiClient) -> Ledger:
    """A second tenant, so that bound keys have something of their own."""
    body = {"id": "acme-ai", "name": "Acme AI", "roles": ["tenant"]}
    assert admin.post("/parties", body).status_code == 201
    return demo


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_every_operation_needs_a_key(demo: Ledger, op: Op) -> None:
    head = demo.head().position
    body = problem(call(ApiClient(None), op), 401)
    assert body["type"].endswith("/unauthorized")
    assert demo.head().position == head


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_every_operation_needs_its_scope(demo: Ledger, make_client: MakeClient, op: Op) -> None:
    other_scopes = [s for s in apikeys.SCOPES if s not in (op.scope, "admin")]
    head = demo.head().position
    body = problem(call(make_client(*other_scopes), op), 403)
    assert op.scope in body["detail"]
    assert demo.head().position == head


@pytest.mark.parametrize(
    "op",
    [op for op in OPERATIONS if op.tenant_scoped],
    ids=[i for i, op in zip(IDS, OPERATIONS, strict=True) if op.tenant_scoped],
)
def test_another_tenants_resources_do_not_exist_for_a_bound_key(
    other_tenant: Ledger, make_client: MakeClient, op: Op
) -> None:
    head = other_tenant.head().position
    problem(call(make_client("admin", tenant="acme-ai"), op), 404)
    assert other_tenant.head().position == head


@pytest.mark.parametrize(
    "op",
    [op for op in OPERATIONS if not op.tenant_scoped and op.method == "post"] + [OPERATIONS[-1]],
    ids=lambda op: f"{op.method.upper()} {op.path}",
)
def test_a_bound_key_cannot_change_shared_resources(
    other_tenant: Ledger, make_client: MakeClient, op: Op
) -> None:
    problem(call(make_client("admin", tenant="acme-ai"), op), 403)


def test_a_bound_key_lists_nothing_of_other_tenants(
    other_tenant: Ledger, make_client: MakeClient
) -> None:
    bound = make_client("admin", tenant="acme-ai")
    assert [p["id"] for p in bound.get("/parties").json()["items"]] == ["acme-ai"]
    assert bound.get("/contracts").json()["items"] == []
    problem(bound.get("/contracts", tenant="anthropic"), 404)
    events = bound.get("/events").json()["items"]
    assert {e["stream_id"] for e in events} == {"party-acme-ai"}
    problem(bound.get("/events", tenant="anthropic"), 404)
    missing = problem(bound.get("/facilities/colossus-1"), 404)
    assert missing == problem(bound.get("/facilities/no-such-place"), 404) | {
        "detail": "facility 'colossus-1' not found"
    }


def test_a_bound_key_sees_only_its_own_reservations_at_every_known_at(
    other_tenant: Ledger, admin: ApiClient, make_client: MakeClient
) -> None:
    """acme-ai leases 1,000 GPUs of Colossus 1 too: nothing anthropic's key reads of the
    facility, at any position, tells that, or how many."""
    lease = {
        "provider": "spacex",
        "tenant": "acme-ai",
        "facility": "colossus-1",
        "title": "Acme lease",
        "term": {"start": "2026-06-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"},
        "capacity": [{"resource": "gpu.h100", "quantity": "1000", "unit": "gpu"}],
    }
    grown = admin.post(
        "/facilities/colossus-1/capacity",
        {
            "capacity": [{"resource": "gpu.h100", "quantity": "221000", "unit": "gpu"}],
            "effective_at": "2026-01-01T00:00:00Z",
            "reason": "a row of racks more",
        },
    )
    assert grown.status_code == 200, grown.content
    before = other_tenant.head().position
    drafted = admin.post("/contracts", lease).json()
    signed = admin.post(f"/contracts/{drafted['id']}/sign", {"signed_by": ["Acme"], "reason": "r"})
    assert signed.status_code == 200, signed.content
    anthropic = make_client("admin", tenant="anthropic")
    seen = [
        anthropic.get("/facilities/colossus-1", as_of="2026-07-01T00:00:00Z", known_at=p).json()
        for p in range(before, other_tenant.head().position + 1)
    ]
    views = {orjson.dumps([v["resources"], v["contracts"]]) for v in seen}
    assert len(views) == 1, views  # identical before and after acme-ai's lease
    [gpus] = [r for r in seen[-1]["resources"] if r["resource"] == "gpu.h100"]
    assert gpus["free"] is None
    assert gpus["reserved"] == sum_of(seen[-1]["contracts"], "gpu.h100")
    assert {c["tenant"] for c in seen[-1]["contracts"]} == {"anthropic"}
    everything = admin.get("/facilities/colossus-1", as_of="2026-07-01T00:00:00Z").json()
    assert {c["tenant"] for c in everything["contracts"]} == {"anthropic", "acme-ai"}


def sum_of(contracts: list[dict[str, str]], resource: str) -> str:
    total = sum(Decimal(c["quantity"]) for c in contracts if c["resource"] == resource)
    return str(total)


def test_a_bound_key_cannot_probe_contract_ids_of_other_tenants(
    other_tenant: Ledger, make_client: MakeClient
) -> None:
    """Drafting with a chosen id answered 409 "already exists" for another tenant's
    contract: ids are one namespace, so a bound key gets one generated instead."""
    bound = make_client("admin", tenant="acme-ai")
    draft = {
        "provider": "spacex",
        "tenant": "acme-ai",
        "facility": "colossus-1",
        "title": "probe",
        "term": {"start": "2029-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
    }
    head = other_tenant.head().position
    for taken in (LEASE, "ctr_free"):
        for dry_run in ("true", "false"):
            refused = bound.post(f"/contracts?dry_run={dry_run}", {**draft, "id": taken})
            assert problem(refused, 422)["errors"] == [
                {"loc": ["body", "id"], "msg": "not allowed for a tenant-bound key"}
            ]
    assert other_tenant.head().position == head
    created = bound.post("/contracts", draft)
    assert created.status_code == 201, created.content
    assert created.json()["id"].startswith("ctr_")


def test_a_bound_key_cannot_probe_for_other_tenants_by_naming_them_as_provider(
    other_tenant: Ledger, make_client: MakeClient
) -> None:
    """ "Not a provider" (409) or "the facility belongs to another" (409) against "no such
    party" (404) told a bound key which other tenants exist: a provider is seen through the
    facility it owns, and any other party answers as a missing one does."""
    admin = make_client("admin")
    # A tenant that is also a provider, owning no facility: nothing shows it to acme-ai.
    both = {"id": "orbital-co", "name": "Orbital", "roles": ["tenant", "provider"]}
    assert admin.post("/parties", both).status_code == 201
    bound = make_client("admin", tenant="acme-ai")
    draft = {
        "tenant": "acme-ai",
        "facility": "colossus-1",
        "title": "probe",
        "term": {"start": "2029-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
    }
    mine = bound.post("/contracts", {**draft, "provider": "spacex"}).json()["id"]
    for provider in ("anthropic", "orbital-co", "no-such-party"):
        for dry_run in ("true", "false"):
            drafted = problem(
                bound.post(f"/contracts?dry_run={dry_run}", {**draft, "provider": provider}), 404
            )
            revised = problem(
                bound.post(f"/contracts/{mine}/revise?dry_run={dry_run}", {"provider": provider}),
                404,
            )
            moved = problem(
                bound.post(
                    f"/contracts/{mine}/revise?dry_run={dry_run}",
                    {"provider": provider, "facility": "colossus-1"},
                ),
                404,
            )
            for body in (drafted, revised, moved):
                assert body["detail"] == f"party {provider!r} not found"
    # Facilities are public, so is their absence; another tenant's contract is not there.
    missing = problem(bound.post("/contracts", {**draft, "provider": "x", "facility": "nope"}), 404)
    assert missing["detail"] == "facility 'nope' not found"
    theirs = problem(bound.post(f"/contracts/{ORBITAL}/revise", {"provider": "orbital-co"}), 404)
    assert theirs["detail"] == f"contract {ORBITAL!r} not found"
    # The provider that owns the facility is seen; an unbound key is told what is wrong.
    assert bound.post("/contracts?dry_run=true", {**draft, "provider": "spacex"}).status_code == 201
    problem(admin.post("/contracts", {**draft, "provider": "anthropic"}), 409)
    problem(admin.post("/contracts", {**draft, "provider": "orbital-co"}), 409)


def test_a_bound_key_sees_its_own_tenant(other_tenant: Ledger, make_client: MakeClient) -> None:
    bound = make_client("admin", tenant="anthropic")
    assert bound.get("/tenants/anthropic/entitlements").status_code == 200
    assert [c["id"] for c in bound.get("/contracts").json()["items"]] == sorted([LEASE, ORBITAL])
    streams = {e["stream_id"] for e in bound.get("/events", limit=1000).json()["items"]}
    assert streams == {"party-anthropic", f"contract-{LEASE}", f"contract-{ORBITAL}"}
    problem(bound.get("/parties/acme-ai"), 404)
    problem(bound.get("/streams/facility-colossus-1"), 404)


def test_a_wrong_or_revoked_key_is_unauthorized(demo: Ledger, make_client: MakeClient) -> None:
    client = make_client("entitlements:read")
    assert client.get("/tenants/anthropic/entitlements").status_code == 200
    key = client.client.defaults["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    problem(ApiClient(key[:-1] + ("A" if key[-1] != "A" else "B")).get("/parties"), 401)
    problem(ApiClient("not-a-key").get("/parties"), 401)
    call_command("revoke_api_key", key.split(".")[0])
    problem(client.get("/tenants/anthropic/entitlements"), 401)


def test_the_rate_limit_answers_429_with_retry_after(
    demo: Ledger, make_client: MakeClient, settings: Any
) -> None:
    settings.LEDGER_API_RATE_LIMIT = 0.5
    settings.LEDGER_API_RATE_BURST = 3
    client = make_client("entitlements:read")
    statuses = [client.get("/tenants/anthropic/limits").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/tenants/anthropic/limits")
    problem(response, 429)
    assert int(response["Retry-After"]) >= 1
    # Another key has its own bucket.
    assert make_client("entitlements:read").get("/tenants/anthropic/limits").status_code == 200


def test_create_api_key_prints_the_key_once_alone_on_the_last_line(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "create_api_key",
        "--name",
        "billing",
        "--scope",
        "entitlements:read",
        "--tenant",
        "anthropic",
    )
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1]
    assert key.startswith("lk_")
    with ledger.read() as conn:
        [stored] = apikeys.list_keys(conn)
        assert apikeys.authenticate(conn, key) == stored
        row = conn.exec_driver_sql("SELECT * FROM ledger_api_keys").one()
    assert (stored.name, stored.scopes, stored.tenant) == (
        "billing",
        frozenset({"entitlements:read"}),
        "anthropic",
    )
    assert key.split(".", 1)[1] not in orjson.dumps([str(v) for v in row]).decode()
    call_command("list_api_keys")
    assert stored.key_id in capsys.readouterr().out


def test_key_commands_refuse_bad_input_in_one_line(ledger: Ledger) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="API key 'nope' not found"):
        call_command("revoke_api_key", "nope")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_api_key", "--name", "x", "--scope", "everything")


def test_the_demo_credentials_work(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("load_demo", "--credentials")
    printed = capsys.readouterr().out.strip().splitlines()
    first = printed[-1].split(": ", 1)[1]
    assert not any("revoked" in line for line in printed)
    call_command("load_demo", "--credentials")
    printed = capsys.readouterr().out.strip().splitlines()
    second = printed[-1].split(": ", 1)[1]
    first_id = first.removeprefix(apikeys.PREFIX).split(".", 1)[0]
    assert printed[-2] == f"the earlier demo API key ({first_id}) is revoked: use this one"
    assert ApiClient(second).get("/tenants/anthropic/entitlements").status_code == 200
    problem(ApiClient(first).get("/tenants/anthropic/entitlements"), 401)  # revoked
    signed_in = Client().post("/admin/login/", {"username": "demo", "password": "demo"})
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/admin/")
