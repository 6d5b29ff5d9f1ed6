"""The demo scenario driven through HTTP only, checked against values worked out by hand.

SpaceX leases Colossus 1 (220,000 H100s, 300 MW) to Anthropic from 2026-05-06 for 24
months; Anthropic allocates 100k GPUs to claude-code, 70k to api-opus and 50k to training,
doubles paid-plan limits, removes the peak-hour cap and raises Opus volumes; an orbital
option stays a draft; the term is extended by six months; and a backdated correction
says api-opus ran on 60k GPUs from 1 June, not 70k.
"""

from __future__ import annotations

from typing import Any

from ledger.unit_of_work import Ledger
from tests.api.conftest import ApiClient, MakeClient

LEASE = "ctr_colossus-1-lease"


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.content
    result: dict[str, Any] = response.json()
    return result


def gpus(n: str) -> list[dict[str, str]]:
    return [{"resource": "gpu.h100", "quantity": n, "unit": "gpu"}]


def run_scenario(ops: ApiClient) -> int:
    """Everything but the correction; returns the position known before it."""
    ok(ops.post("/parties", {"id": "spacex", "name": "SpaceX", "roles": ["provider"]}))
    ok(ops.post("/parties", {"id": "anthropic", "name": "Anthropic", "roles": ["tenant"]}))
    ok(
        ops.post(
            "/facilities",
            {
                "id": "colossus-1",
                "provider": "spacex",
                "name": "Colossus 1",
                "location": "Memphis, Tennessee",
                "capacity": [
                    *gpus("220000"),
                    {"resource": "power.mw", "quantity": "300", "unit": "MW"},
                ],
                "effective_at": "2025-09-01T00:00:00Z",
                "reason": "in service since September 2025",
            },
        )
    )
    ok(
        ops.post(
            "/contracts",
            {
                "id": LEASE,
                "provider": "spacex",
                "tenant": "anthropic",
                "facility": "colossus-1",
                "title": "Colossus 1 full-facility lease",
                "reference": "SPX-ANT-2026-001",
                "term": {"start": "2026-05-06T00:00:00Z", "end": "2028-05-06T00:00:00Z"},
                "capacity": [
                    *gpus("220000"),
                    {"resource": "power.mw", "quantity": "300", "unit": "MW"},
                ],
            },
        )
    )
    ok(
        ops.post(
            "/contracts",
            {
                "id": "ctr_orbital",
                "provider": "spacex",
                "tenant": "anthropic",
                "facility": "colossus-1",
                "title": "Gigawatt-scale orbital compute option",
                "term": {"start": "2028-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z"},
                "capacity": [{"resource": "power.mw", "quantity": "1000", "unit": "MW"}],
            },
        )
    )
    signed = ok(
        ops.post(
            f"/contracts/{LEASE}/sign",
            {
                "signed_by": ["SpaceX", "Anthropic"],
                "effective_at": "2026-05-06T00:00:00Z",
                "reason": "countersigned on 6 May",
            },
            headers={"If-Match": '"1"'},
        ),
        200,
    )
    assert signed["status"] == "active"
    for workload, quantity in (
        ("claude-code", "100000"),
        ("api-opus", "70000"),
        ("training", "50000"),
    ):
        ok(
            ops.post(
                f"/contracts/{LEASE}/allocations",
                {
                    "allocation_id": f"alc_{workload}",
                    "workload": workload,
                    "resource": "gpu.h100",
                    "quantity": quantity,
                    "effective_at": "2026-05-06T00:00:00Z",
                    "reason": "launch",
                },
            )
        )
    limits = [
        ("claude-code-pro", "requests-per-5h", "set", {"value": "45"}, "2026-01-01"),
        ("claude-code-max", "requests-per-5h", "set", {"value": "225"}, "2026-01-01"),
        ("claude-code-max", "peak-hour-cap", "set", {"value": "100"}, "2026-01-01"),
        ("api-opus", "requests-per-minute", "set", {"value": "4000"}, "2026-01-01"),
        ("claude-code-pro", "requests-per-5h", "scale", {"factor": "2"}, "2026-05-13"),
        ("claude-code-max", "requests-per-5h", "scale", {"factor": "2"}, "2026-05-13"),
        ("claude-code-max", "peak-hour-cap", "remove", {}, "2026-05-13"),
        ("api-opus", "requests-per-minute", "set", {"value": "10000"}, "2026-05-20"),
    ]
    for plan, limit, operation, amount, day in limits:
        ok(
            ops.post(
                "/tenants/anthropic/limits",
                {
                    "plan": plan,
                    "limit": limit,
                    "operation": operation,
                    **amount,
                    "effective_at": f"{day}T00:00:00Z",
                    "reason": "Colossus 1 capacity",
                },
            )
        )
    amended = ok(
        ops.post(
            f"/contracts/{LEASE}/amendments",
            {
                "amendment_id": "amd_extension",
                "effective_at": "2026-09-01T00:00:00Z",
                "term_end": "2028-11-06T00:00:00Z",
                "reason": "six more months",
            },
        )
    )
    assert amended["term"]["end"] == "2028-11-06T00:00:00.000000Z"
    return int(amended["position"])


def test_the_demo_scenario_over_http(ledger: Ledger, make_client: MakeClient) -> None:
    ops = make_client("contracts:write", "contracts:read", "limits:write")
    billing = make_client("entitlements:read", "events:read", "contracts:read", tenant="anthropic")

    before_correction = run_scenario(ops)
    corrected = ok(
        ops.post(
            f"/contracts/{LEASE}/allocations/alc_api-opus/resize",
            {
                "quantity": "60000",
                "effective_at": "2026-06-01T00:00:00Z",
                "reason": "correction: 60k from 1 June",
            },
        ),
        200,
    )
    assert corrected["position"] == before_correction + 1

    # Entitlements on 1 July 2026, as known now and as known before the correction.
    now = ok(billing.get("/tenants/anthropic/entitlements", as_of="2026-07-01T00:00:00Z"), 200)
    assert now["known_at"]["position"] == before_correction + 1
    [gpu, power] = now["capacity"]
    assert (
        gpu["resource"],
        gpu["unit"],
        gpu["contracted"],
        gpu["allocated"],
        gpu["unallocated"],
    ) == (
        "gpu.h100",
        "gpu",
        "220000",
        "210000",
        "10000",
    )
    assert gpu["contracts"] == [{"contract_id": LEASE, "quantity": "220000"}]
    assert gpu["workloads"] == [
        {"workload": "api-opus", "quantity": "60000"},
        {"workload": "claude-code", "quantity": "100000"},
        {"workload": "training", "quantity": "50000"},
    ]
    assert (power["resource"], power["contracted"], power["allocated"]) == ("power.mw", "300", "0")
    assert now["contracts"] == [
        {
            "contract_id": LEASE,
            "status": "active",
            "facility": "colossus-1",
            "term": {"start": "2026-05-06T00:00:00.000000Z", "end": "2028-11-06T00:00:00.000000Z"},
        }
    ]  # the orbital draft is in no entitlement
    then = ok(
        billing.get(
            "/tenants/anthropic/entitlements",
            as_of="2026-07-01T00:00:00Z",
            known_at=str(before_correction),
        ),
        200,
    )
    assert (then["capacity"][0]["allocated"], then["capacity"][0]["workloads"][0]) == (
        "220000",
        {"workload": "api-opus", "quantity": "70000"},
    )

    # Limits on 1 June: doubled, cap removed, Opus raised; before 13 May: the baselines.
    limits = ok(billing.get("/tenants/anthropic/limits", as_of="2026-06-01T00:00:00Z"), 200)[
        "items"
    ]
    assert [(i["plan"], i["limit"], i["value"], i["unlimited"]) for i in limits] == [
        ("api-opus", "requests-per-minute", "10000", False),
        ("claude-code-max", "peak-hour-cap", None, True),
        ("claude-code-max", "requests-per-5h", "450", False),
        ("claude-code-pro", "requests-per-5h", "90", False),
    ]
    early = ok(billing.get("/tenants/anthropic/limits", as_of="2026-05-12T00:00:00Z"), 200)["items"]
    assert [i["value"] for i in early] == ["4000", "100", "225", "45"]

    # The step function for proration, May to August 2026.
    timeline = ok(
        billing.get(
            "/tenants/anthropic/entitlements/timeline",
            **{
                "from": "2026-05-01T00:00:00Z",
                "to": "2026-08-01T00:00:00Z",
                "resource": "gpu.h100",
            },
        ),
        200,
    )["items"]
    assert [
        (i["valid_from"][:10], i["valid_to"][:10], i["contracted"], i["allocated"])
        for i in timeline
    ] == [
        ("2026-05-01", "2026-05-06", "0", "0"),
        ("2026-05-06", "2026-06-01", "220000", "220000"),
        ("2026-06-01", "2026-08-01", "220000", "210000"),
    ]

    # What billing re-bills after the correction: exactly 1 June to the end of the term.
    changes = ok(
        billing.get(
            "/tenants/anthropic/entitlements/changes", since_position=str(before_correction)
        ),
        200,
    )
    assert changes["since_position"] == before_correction
    with ledger.read() as conn:
        after_it = ledger.store.read_all(conn, before_correction)
        [cause] = [r for r in after_it if r.type == "AllocationResized"]
    assert changes["items"] == [
        {
            "resource": "gpu.h100",
            "plan": None,
            "limit": None,
            "unit": "gpu",
            "valid_from": "2026-06-01T00:00:00.000000Z",
            "valid_to": "2028-11-06T00:00:00.000000Z",
            "before": {"contracted": "220000", "allocated": "220000"},
            "after": {"contracted": "220000", "allocated": "210000"},
            # Why: the event a re-billing run can cite.
            "cause": {
                "position": cause.position,
                "event_id": cause.event_id,
                "type": "AllocationResized",
                "reason": "correction: 60k from 1 June",
            },
        }
    ]

    # Contract status is judged at as_of.
    statuses = {
        day: ok(billing.get(f"/contracts/{LEASE}", as_of=f"{day}T00:00:00Z"), 200)["status"]
        for day in ("2026-05-01", "2026-07-01", "2028-06-01", "2028-12-01")
    }
    assert statuses == {
        "2026-05-01": "signed",
        "2026-07-01": "active",
        "2028-06-01": "active",  # extended by the amendment
        "2028-12-01": "expired",
    }
    assert ok(billing.get("/contracts/ctr_orbital"), 200)["status"] == "draft"

    # The event feed, read in pages of 4: every event once, in order, without a gap; the
    # tenant's key sees exactly the events of its own streams.
    auditor = make_client("events:read")
    everything = read_feed(auditor)
    assert [e["position"] for e in everything] == list(range(1, before_correction + 2))
    assert everything[-1]["type"] == "AllocationResized"
    assert everything[-1]["metadata"]["reason"] == "correction: 60k from 1 June"
    assert everything[-1]["payload"] == {"allocation_id": "alc_api-opus", "quantity": "60000"}
    tenant_streams = {"party-anthropic", f"contract-{LEASE}", "contract-ctr_orbital"}
    assert read_feed(billing) == [e for e in everything if e["stream_id"] in tenant_streams]


def read_feed(client: ApiClient) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        page = ok(client.get("/events", after=str(after), limit="4"), 200)
        if not page["items"]:
            return seen
        seen += page["items"]
        assert page["next_after"] > after
        after = page["next_after"]
