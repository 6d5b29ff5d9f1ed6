"""Writes: what each returns, every invalid field, domain rules, If-Match, idempotency,
dry runs and the request limits. A refused write appends nothing."""

from __future__ import annotations

import copy
import json
import sys
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from ledger import handlers, read, service
from ledger.canonical import format_timestamp
from ledger.demo import LEASE, ORBITAL
from ledger.domain import commands as c
from ledger.tables import idempotency_keys
from ledger.unit_of_work import Ledger, UnitOfWork
from tests.api.conftest import ApiClient, problem

FACILITY = {
    "id": "colossus-2",
    "provider": "spacex",
    "name": "Colossus 2",
    "location": "Memphis, Tennessee",
    "capacity": [{"resource": "gpu.gb200", "quantity": "550000", "unit": "gpu"}],
    "effective_at": "2026-11-30T23:59:30Z",
}
CONTRACT = {
    "id": "ctr_colossus-2",
    "provider": "spacex",
    "tenant": "anthropic",
    "facility": "colossus-1",
    "title": "Colossus 1 second lease",
    "term": {"start": "2028-05-06T00:00:00Z", "end": "2029-05-06T00:00:00Z"},
    "capacity": [{"resource": "gpu.h100", "quantity": "100000", "unit": "gpu"}],
}
OVER_ALLOCATION = {  # one GPU more than the demo lease has left from July 2026
    "workload": "eval",
    "resource": "gpu.h100",
    "quantity": "10001",
    "effective_at": "2026-07-01T00:00:00Z",
    "reason": "backfill",
}
LIMIT = {
    "plan": "claude-code-pro",
    "limit": "requests-per-5h",
    "operation": "set",
    "value": "120",
    "effective_at": "2026-12-01T00:00:00Z",
    "reason": "holiday boost",
}


def body_of(response: Any) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(response.content)
    return result


def test_register_party_returns_the_party_and_position(demo: Ledger, admin: ApiClient) -> None:
    response = admin.post("/parties", {"id": "acme-ai", "name": "Acme AI", "roles": ["tenant"]})
    assert response.status_code == 201
    assert body_of(response) == {
        "id": "acme-ai",
        "name": "Acme AI",
        "roles": ["tenant"],
        "position": demo.head().position,
    }
    assert admin.get("/parties/acme-ai").json() == {
        "id": "acme-ai",
        "name": "Acme AI",
        "roles": ["tenant"],
    }


def test_a_facility_registered_with_its_past_in_service_date_needs_no_reason(
    demo: Ledger, admin: ApiClient
) -> None:
    """A registration is the first record of something, not a correction of it."""
    in_service = {**FACILITY, "effective_at": "2025-09-01T00:00:00Z"}
    created = admin.post("/facilities", in_service)
    assert created.status_code == 201, created.content
    event = demo_last_event(demo)
    assert (event.type, event.effective_at.isoformat()) == (
        "FacilityRegistered",
        "2025-09-01T00:00:00+00:00",
    )
    assert "reason" not in event.metadata_dict()
    seen = admin.get("/facilities/colossus-2", as_of="2025-10-01T00:00:00Z").json()
    assert seen["resources"][0]["capacity"] == "550000"


def test_an_instant_with_any_offset_is_recorded_as_the_same_instant_in_utc(
    demo: Ledger, admin: ApiClient
) -> None:
    """An offset is notation: 02:00 at +02:00 is midnight UTC, recorded and echoed as such."""
    created = admin.post("/facilities", {**FACILITY, "effective_at": "2025-09-01T02:00:00+02:00"})
    assert created.status_code == 201, created.content
    assert demo_last_event(demo).effective_at.isoformat() == "2025-09-01T00:00:00+00:00"
    west = admin.get("/facilities/colossus-2", as_of="2025-08-31T19:00:00-05:00")
    east = admin.get("/facilities/colossus-2", as_of="2025-09-01T00:00:00Z")
    assert west.json() == east.json()
    assert east.json()["resources"][0]["capacity"] == "550000"
    assert (
        admin.get("/facilities/colossus-2", as_of="2025-09-01T01:59:59+02:00").json()["resources"]
        != east.json()["resources"]
    )


def test_a_registration_keeps_the_reason_it_is_given(demo: Ledger, admin: ApiClient) -> None:
    party = {"id": "acme-ai", "name": "Acme AI", "roles": ["tenant"]}
    created = admin.post(
        "/parties", {**party, "effective_at": "2024-03-01T00:00:00Z", "reason": "migrated"}
    )
    assert created.status_code == 201, created.content
    event = demo_last_event(demo)
    assert event.type == "PartyRegistered"
    assert event.effective_at.isoformat() == "2024-03-01T00:00:00+00:00"
    assert event.metadata_dict()["reason"] == "migrated"
    facility = admin.post("/facilities", {**FACILITY, "reason": "bought"})
    assert facility.status_code == 201, facility.content
    assert demo_last_event(demo).metadata_dict()["reason"] == "bought"


def test_a_backdated_capacity_change_still_needs_a_reason(demo: Ledger, admin: ApiClient) -> None:
    before = demo.head()
    refused = admin.post(
        "/facilities/colossus-1/capacity",
        {
            "capacity": [{"resource": "gpu.h100", "quantity": "230000", "unit": "gpu"}],
            "effective_at": "2026-02-01T00:00:00Z",
            "reason": " ",
        },
    )
    body = problem(refused, 422)
    assert body["errors"][0]["loc"][-1] == "reason"
    assert demo.head() == before


def demo_last_event(ledger: Ledger) -> Any:
    with ledger.read() as conn:
        [record] = ledger.store.read_page(conn, ledger.head().position - 1, 1)
    return record


def test_register_facility_and_change_its_capacity(demo: Ledger, admin: ApiClient) -> None:
    created = admin.post("/facilities", {**FACILITY, "reason": "in service"})
    assert created.status_code == 201, created.content
    assert body_of(created)["resources"] == [
        {
            "resource": "gpu.gb200",
            "unit": "gpu",
            "capacity": "550000",
            "reserved": "0",
            "free": "550000",
        }
    ]
    change = {
        "capacity": [{"resource": "gpu.gb200", "quantity": "600000", "unit": "gpu"}],
        "effective_at": format_timestamp(demo.clock()),  # in force now, as the answer shows
        "reason": "second hall commissioned",
    }
    for missing in ("effective_at", "reason"):
        refused = problem(
            admin.post(
                "/facilities/colossus-2/capacity", {k: v for k, v in change.items() if k != missing}
            ),
            422,
        )
        assert [e["loc"][-1] for e in refused["errors"]] == [missing]
    changed = admin.post("/facilities/colossus-2/capacity", change)
    assert changed.status_code == 200, changed.content
    assert body_of(changed)["resources"][0]["capacity"] == "600000"
    assert body_of(changed)["position"] == demo.head().position


def test_contract_lifecycle_through_the_api(demo: Ledger, admin: ApiClient) -> None:
    drafted = admin.post("/contracts", CONTRACT)
    assert drafted.status_code == 201, drafted.content
    assert drafted["ETag"] == '"1"'
    assert (body_of(drafted)["status"], body_of(drafted)["version"]) == ("draft", 1)

    revised = admin.post(
        "/contracts/ctr_colossus-2/revise",
        {"title": "Colossus 1 renewal"},
        headers={"If-Match": '"1"'},
    )
    assert revised.status_code == 200, revised.content
    assert (body_of(revised)["title"], revised["ETag"]) == ("Colossus 1 renewal", '"2"')

    signed = admin.post("/contracts/ctr_colossus-2/sign", {"signed_by": ["SpaceX", "Anthropic"]})
    assert signed.status_code == 200, signed.content
    assert body_of(signed)["status"] == "signed"  # its term starts in 2028

    amended = admin.post(
        "/contracts/ctr_colossus-2/amendments",
        {
            "amendment_id": "amd_more",
            "effective_at": "2028-06-01T00:00:00Z",
            "capacity": [{"resource": "gpu.h100", "quantity": "120000", "unit": "gpu"}],
            "reason": "more GPUs from June",
        },
    )
    assert amended.status_code == 201, amended.content
    assert body_of(amended)["amendment_id"] == "amd_more"

    allocated = admin.post(
        "/contracts/ctr_colossus-2/allocations",
        {
            "allocation_id": "alc_eval",
            "workload": "eval",
            "resource": "gpu.h100",
            "quantity": "1000",
            "effective_at": "2028-05-06T00:00:00Z",
            "reason": "scheduled",
        },
    )
    assert allocated.status_code == 201, allocated.content
    assert body_of(allocated)["allocation_id"] == "alc_eval"
    resized = admin.post(
        "/contracts/ctr_colossus-2/allocations/alc_eval/resize",
        {"quantity": "2000", "effective_at": "2028-07-01T00:00:00Z", "reason": "grow"},
    )
    assert resized.status_code == 200, resized.content
    released = admin.post(
        "/contracts/ctr_colossus-2/allocations/alc_eval/release",
        {"effective_at": "2028-08-01T00:00:00Z"},
    )
    assert released.status_code == 200, released.content
    terminated = admin.post(
        "/contracts/ctr_colossus-2/terminate",
        {"effective_at": "2029-01-01T00:00:00Z", "reason": "ended early"},
    )
    assert terminated.status_code == 200, terminated.content
    view = admin.get("/contracts/ctr_colossus-2", as_of="2028-07-15T00:00:00Z").json()
    assert view["status"] == "active"
    assert view["capacity"] == [{"resource": "gpu.h100", "quantity": "120000", "unit": "gpu"}]
    assert [(a["allocation_id"], a["quantity"]) for a in view["allocations"]] == [
        ("alc_eval", "2000")
    ]
    assert (
        admin.get("/contracts/ctr_colossus-2", as_of="2029-02-01T00:00:00Z").json()["status"]
        == "terminated"
    )
    events = admin.get("/contracts/ctr_colossus-2/events").json()
    assert [e["type"] for e in events["items"]] == [
        "ContractDrafted",
        "ContractDraftRevised",
        "ContractSigned",
        "ContractAmended",
        "CapacityAllocated",
        "AllocationResized",
        "AllocationReleased",
        "ContractTerminated",
    ]
    assert events["version"] == 8


def test_a_contract_shows_its_terms_whatever_the_as_of(demo: Ledger, admin: ApiClient) -> None:
    """Capacities are read inside the term: a draft or a lease not yet begun shows what it
    starts with (it used to show 0 of everything), one that ended what it ended with.
    Allocations are listed where as_of falls for each: in force, scheduled or ended."""
    drafted = body_of(admin.post("/contracts", CONTRACT))
    assert (drafted["status"], drafted["capacity"][0]["quantity"]) == ("draft", "100000")
    admin.post("/contracts/ctr_colossus-2/sign", {"signed_by": ["SpaceX", "Anthropic"]})
    amendment = {
        "effective_at": "2028-06-01T00:00:00Z",
        "capacity": [{"resource": "gpu.h100", "quantity": "120000", "unit": "gpu"}],
        "reason": "more GPUs from June",
    }
    assert admin.post("/contracts/ctr_colossus-2/amendments", amendment).status_code == 201
    allocation = {
        "workload": "eval",
        "resource": "gpu.h100",
        "quantity": "1000",
        "effective_at": "2028-07-01T00:00:00Z",
        "until": "2029-03-01T00:00:00Z",
        "reason": "scheduled",
    }
    allocated = body_of(admin.post("/contracts/ctr_colossus-2/allocations", allocation))
    assert allocated["status"] == "signed"
    assert allocated["capacity"][0]["quantity"] == "100000"  # at the term's start
    assert allocated["allocations"] == []  # answered now: it begins in 2028
    assert [
        (a["allocation_id"], a["quantity"], a["effective_from"], a["until"])
        for a in allocated["scheduled"]
    ] == [
        (
            allocated["allocation_id"],
            "1000",
            "2028-07-01T00:00:00.000000Z",
            "2029-03-01T00:00:00.000000Z",
        )
    ]

    def seen(as_of: str) -> tuple[str, str, list[str], list[str], list[str]]:
        view = body_of(admin.get("/contracts/ctr_colossus-2", as_of=as_of))
        groups = [[a["quantity"] for a in view[g]] for g in ("allocations", "scheduled", "ended")]
        return (view["status"], view["capacity"][0]["quantity"], *groups)

    assert seen("2028-05-10T00:00:00Z") == ("active", "100000", [], ["1000"], [])
    assert seen("2028-08-01T00:00:00Z") == ("active", "120000", ["1000"], [], [])
    assert seen("2029-03-01T00:00:00Z") == ("active", "120000", [], [], ["1000"])  # its until
    assert seen("2030-01-01T00:00:00Z") == ("expired", "120000", [], [], ["1000"])  # as it ended


def test_void_a_draft(demo: Ledger, admin: ApiClient) -> None:
    response = admin.post(f"/contracts/{ORBITAL}/void", {"reason": "not pursued"})
    assert response.status_code == 200
    assert body_of(response)["status"] == "voided"


def test_a_limit_scheduled_to_change_says_what_comes_next(demo: Ledger, admin: ApiClient) -> None:
    """ "450 until 1 Jan, then 900": the limit in force names its next change, in the
    limits and in the entitlements, and a temporary one what it returns to."""
    base = {"plan": "claude-code-max", "limit": "weekly-hours", "reason": "plan terms"}
    now = "2026-12-01T00:00:00Z"
    assert (
        admin.post(
            "/tenants/anthropic/limits",
            {**base, "operation": "set", "value": "450", "effective_at": now},
        ).status_code
        == 201
    )
    later = {**base, "operation": "set", "value": "900", "effective_at": "2027-01-01T00:00:00Z"}
    assert admin.post("/tenants/anthropic/limits", later).status_code == 201

    def limit(path: str, **query: str) -> dict[str, Any]:
        items = admin.get(path, **query).json()
        found = items["items"] if "items" in items else items["limits"]
        return next(i for i in found if i["limit"] == "weekly-hours")

    for path in ("/tenants/anthropic/limits", "/tenants/anthropic/entitlements"):
        now_seen = limit(path, as_of="2026-12-05T00:00:00Z")
        assert (now_seen["value"], now_seen["next_change"]) == (
            "450",
            {
                "at": "2027-01-01T00:00:00.000000Z",
                "value": "900",
                "unlimited": False,
                "removed": False,
            },
        ), path
        assert limit(path, as_of="2027-02-01T00:00:00Z")["next_change"] is None, path

    removal = {**base, "operation": "remove", "effective_at": "2027-06-01T00:00:00Z"}
    assert admin.post("/tenants/anthropic/limits", removal).status_code == 201
    assert limit("/tenants/anthropic/limits", as_of="2027-02-01T00:00:00Z")["next_change"] == {
        "at": "2027-06-01T00:00:00.000000Z",
        "value": None,
        "unlimited": True,  # "remove" makes the limit unlimited (docs/api.md)
        "removed": False,
    }
    # A first limit set only for a while: after it, there is none.
    trial = {
        "plan": "claude-code-max",
        "limit": "trial-hours",
        "operation": "set",
        "value": "10",
        "effective_at": now,
        "until": "2027-01-15T00:00:00Z",
        "reason": "a trial",
    }
    assert admin.post("/tenants/anthropic/limits", trial).status_code == 201
    trial_limits = admin.get("/tenants/anthropic/limits", as_of="2026-12-05T00:00:00Z").json()
    [seen] = [i for i in trial_limits["items"] if i["limit"] == "trial-hours"]
    assert seen["next_change"] == {
        "at": "2027-01-15T00:00:00.000000Z",
        "value": None,
        "unlimited": False,
        "removed": True,
    }
    # Set again to the value it has: stored anew, yet no change to announce.
    again = {**base, "operation": "set", "value": "900", "effective_at": "2027-03-01T00:00:00Z"}
    assert admin.post("/tenants/anthropic/limits", again).status_code == 201
    assert limit("/tenants/anthropic/limits", as_of="2027-02-01T00:00:00Z")["next_change"] is None


def test_each_change_names_the_event_that_caused_it(demo: Ledger, admin: ApiClient) -> None:
    since = demo.head().position
    doubled = {**LIMIT, "value": "240", "reason": "doubled for the launch"}
    assert admin.post("/tenants/anthropic/limits", doubled).status_code == 201
    report = body_of(
        admin.get("/tenants/anthropic/entitlements/changes", since_position=str(since))
    )
    [item] = report["items"]
    with demo.read() as conn:
        [event] = list(demo.store.read_all(conn, since))
    assert (item["plan"], item["limit"], item["unit"]) == (LIMIT["plan"], LIMIT["limit"], None)
    assert item["after"] == {"value": "240", "unlimited": False}
    assert item["cause"] == {
        "position": event.position,
        "event_id": event.event_id,
        "type": "LimitChanged",
        "reason": "doubled for the launch",
    }


def test_limits_and_periods(demo: Ledger, admin: ApiClient) -> None:
    response = admin.post("/tenants/anthropic/limits", LIMIT)
    assert response.status_code == 201, response.content
    assert body_of(response) == {
        "tenant": "anthropic",
        "plan": "claude-code-pro",
        "limit": "requests-per-5h",
        "value": "120",
        "unlimited": False,
        "effective_since": "2026-12-01T00:00:00.000000Z",
        "until": None,
        "next_change": None,
        "position": demo.head().position,
    }
    closed = admin.post("/tenants/anthropic/periods/close", {"through": "2026-11-01T00:00:00Z"})
    assert closed.status_code == 201
    assert body_of(closed)["closed_through"] == "2026-11-01T00:00:00.000000Z"
    assert admin.get("/tenants/anthropic/periods").json() == {
        "tenant": "anthropic",
        "closed_through": "2026-11-01T00:00:00.000000Z",
    }
    late = admin.post(
        "/tenants/anthropic/limits", {**LIMIT, "effective_at": "2026-10-01T00:00:00Z"}
    )
    assert problem(late, 409)["rule"] == "period_closed"
    reopened = admin.post(
        "/tenants/anthropic/periods/reopen",
        {"through": "2026-09-01T00:00:00Z", "reason": "invoice reissued"},
    )
    assert reopened.status_code == 201
    assert (
        admin.post(
            "/tenants/anthropic/limits", {**LIMIT, "effective_at": "2026-10-01T00:00:00Z"}
        ).status_code
        == 201
    )


# -- every invalid field is a 422 naming it, and appends nothing ---------------------------

INVALID = [
    ("/parties", {"id": "acme", "name": "A", "roles": []}, ["body", "roles"]),
    ("/parties", {"id": "Not A Slug", "name": "A", "roles": ["tenant"]}, ["body", "id"]),
    ("/parties", {"id": "acme", "name": "", "roles": ["tenant"]}, ["body", "name"]),
    ("/parties", {"id": "acme", "name": "A", "roles": ["landlord"]}, ["body", "roles", 0]),
    (
        "/parties",
        {"id": "acme", "name": "A", "roles": ["tenant"], "extra": 1},
        ["body", "extra"],
    ),
    ("/facilities", {**FACILITY, "capacity": []}, ["body", "capacity"]),
    (
        "/facilities",
        {**FACILITY, "capacity": [{"resource": "gpu.h100", "quantity": 1.5, "unit": "gpu"}]},
        ["body", "capacity", 0, "quantity"],
    ),
    (
        "/facilities",
        {**FACILITY, "capacity": [{"resource": "gpu.h100", "quantity": "-1", "unit": "gpu"}]},
        ["body", "capacity", 0, "quantity"],
    ),
    (
        "/facilities",
        {**FACILITY, "effective_at": "2026-05-06T00:00:00"},
        ["body", "effective_at"],
    ),
    (  # an instant whose offset takes it before the year 1 in UTC
        "/facilities",
        {**FACILITY, "effective_at": "0001-01-01T00:00:00+01:00"},
        ["body", "effective_at"],
    ),
    (
        "/contracts",
        {**CONTRACT, "term": {"start": "2028-05-06T00:00:00Z"}},
        ["body", "term", "end"],
    ),
    (
        "/contracts",
        {**CONTRACT, "capacity": [{"resource": "gpu.h100", "quantity": "abc", "unit": "gpu"}]},
        ["body", "capacity", 0, "quantity"],
    ),
    (
        "/contracts",
        {**CONTRACT, "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": ""}]},
        ["body", "capacity", 0, "unit"],
    ),
    ("/contracts", {k: v for k, v in CONTRACT.items() if k != "title"}, ["body", "title"]),
    (  # the domain's refusal, located in the body as pydantic's are
        "/contracts",
        {**CONTRACT, "capacity": [CONTRACT["capacity"][0], CONTRACT["capacity"][0]]},
        ["body", "capacity", 1, "resource"],
    ),
    *(  # quantities are decimal strings as docs/api.md writes them, nothing looser
        (
            "/contracts",
            {**CONTRACT, "capacity": [{"resource": "gpu.h100", "quantity": q, "unit": "gpu"}]},
            ["body", "capacity", 0, "quantity"],
        )
        for q in (1000, "1_000", "1e3", "\u0661\u0662", " 12", "+12", "12.", ".5", "0x10", "12\n")
    ),
    *(  # RFC 3339 instants carry seconds
        (
            "/contracts",
            {**CONTRACT, "term": {**CONTRACT["term"], "end": end}},
            ["body", "term", "end"],
        )
        for end in ("2029-05-06T00:00Z", "2029-05-06T00Z", "2029-05-06", "2029-05-06T00:00:00")
    ),
    (
        f"/contracts/{LEASE}/allocations",
        {"workload": "w", "resource": "gpu.h100"},
        ["body", "quantity"],
    ),
    (
        f"/contracts/{LEASE}/allocations",
        {"workload": "w", "resource": "gpu.h100", "quantity": "0"},
        ["body", "quantity"],
    ),
    (
        f"/contracts/{LEASE}/allocations/alc_training/resize",
        {"quantity": "1"},
        ["body", "reason"],
    ),
    (f"/contracts/{LEASE}/amendments", {"effective_at": "2027-01-01T00:00:00Z", "reason": "r"}, []),
    (
        f"/contracts/{LEASE}/terminate",
        {"effective_at": "2027-01-01T00:00:00Z"},
        ["body", "reason"],
    ),
    (f"/contracts/{ORBITAL}/void", {}, ["body", "reason"]),
    (f"/contracts/{ORBITAL}/sign", {"signed_by": []}, ["body", "signed_by"]),
    (f"/contracts/{ORBITAL}/revise", {}, []),
    ("/tenants/anthropic/limits", {**LIMIT, "operation": "double"}, ["body", "operation"]),
    ("/tenants/anthropic/limits", {**LIMIT, "value": None}, ["body", "value"]),
    ("/tenants/anthropic/limits", {**LIMIT, "operation": "scale"}, ["body", "factor"]),
    (
        "/tenants/anthropic/limits",
        {k: v for k, v in LIMIT.items() if k != "reason"},
        ["body", "reason"],
    ),
    ("/tenants/anthropic/periods/close", {"through": "yesterday"}, ["body", "through"]),
    # An instant the projections cannot hold (it used to be written, then a 500).
    (
        "/tenants/anthropic/limits",
        {**LIMIT, "effective_at": "9999-12-31T12:00:00Z"},
        ["body", "effective_at"],
    ),
    # Quantities the ledger could not hold exactly (they used to be rounded, or a 500).
    ("/tenants/anthropic/limits", {**LIMIT, "value": "1E+2000000"}, ["body", "value"]),
    ("/tenants/anthropic/limits", {**LIMIT, "value": "1" * 31}, ["body", "value"]),
    (
        "/tenants/anthropic/limits",
        {**LIMIT, "operation": "scale", "value": None, "factor": "1E-2000000"},
        ["body", "factor"],
    ),
    (
        f"/contracts/{LEASE}/allocations",
        {"workload": "w", "resource": "gpu.h100", "quantity": "0." + "0" * 30 + "1"},
        ["body", "quantity"],
    ),
    (
        "/tenants/anthropic/periods/reopen",
        {"through": "2026-01-01T00:00:00Z"},
        ["body", "reason"],
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "loc"), INVALID, ids=[f"{p} {loc}" for p, _, loc in INVALID]
)
def test_invalid_input_is_422_naming_the_field(
    demo: Ledger, admin: ApiClient, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    head = demo.head().position
    found = problem(admin.post(path, body), 422)
    if loc:
        assert loc in [e["loc"] for e in found["errors"]], found
    assert demo.head().position == head


def test_malformed_json_is_400(demo: Ledger, admin: ApiClient) -> None:
    problem(admin.post("/parties", b"{not json"), 400)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"as_of": "soon"}, ["query", "as_of"]),
        ({"known_at": "-1"}, ["query", "known_at"]),
        ({"as_of": "2026-05-06T00:00:00"}, ["query", "as_of"]),
    ],
)
def test_invalid_query_parameters_are_422(
    demo: Ledger, admin: ApiClient, params: dict[str, str], loc: list[str]
) -> None:
    found = problem(admin.get("/tenants/anthropic/entitlements", **params), 422)
    assert {tuple(e["loc"]) for e in found["errors"]} == {tuple(loc)}


def test_list_parameters_are_validated(demo: Ledger, admin: ApiClient) -> None:
    problem(admin.get("/contracts", limit="0"), 422)
    problem(admin.get("/contracts", limit="1001"), 422)
    problem(admin.get("/contracts", status="pending"), 422)
    assert problem(admin.get("/contracts", cursor="***"), 422)["errors"][0]["loc"] == [
        "query",
        "cursor",
    ]
    problem(admin.get("/events", after="-1"), 422)
    problem(admin.get("/tenants/anthropic/entitlements/timeline", to="2027-01-01T00:00:00Z"), 422)
    for start, end in (("2026-05-10", "2026-05-10"), ("2026-06-10", "2026-05-10")):
        # An empty or inverted window: its "steps" would have negative durations.
        window = {"from": f"{start}T00:00:00Z", "to": f"{end}T00:00:00Z"}
        found = problem(admin.get("/tenants/anthropic/entitlements/timeline", **window), 422)
        assert found["errors"] == [{"loc": ["query", "to"], "msg": "must be after from"}]
    problem(admin.get("/tenants/anthropic/entitlements/changes"), 422)
    inverted = problem(
        admin.get("/tenants/anthropic/entitlements/changes", since_position="5", known_at="3"), 422
    )
    assert inverted["errors"][0]["loc"] == ["query", "since_position"]
    head = demo.head().position
    for known_at in (None, str(head + 100), "2999-01-01T00:00:00Z"):  # at or past the head
        params = {"since_position": str(head)} | ({"known_at": known_at} if known_at else {})
        at_head = admin.get("/tenants/anthropic/entitlements/changes", **params)
        assert (at_head.status_code, at_head.json()["items"]) == (200, [])
        params["since_position"] = str(head + 1)
        future = problem(admin.get("/tenants/anthropic/entitlements/changes", **params), 409)
        assert future["type"].endswith("/position-in-future")
        assert future["errors"] == [
            {"loc": ["query", "since_position"], "msg": f"past the head ({head})"}
        ]


# -- domain rules: 409 naming the rule, the resource and the instant ---------------------


def test_an_over_allocation_is_409_with_rule_resource_and_instant(
    demo: Ledger, admin: ApiClient
) -> None:
    head = demo.head().position
    body = dict(OVER_ALLOCATION)
    found = problem(admin.post(f"/contracts/{LEASE}/allocations", body), 409)
    assert found["rule"] == "allocation_exceeds_contract"
    assert found["type"].endswith("/rules/allocation_exceeds_contract")
    assert (found["resource"], found["at"]) == ("gpu.h100", "2026-07-01T00:00:00.000000Z")
    assert demo.head().position == head
    body["quantity"] = "10000"  # exactly what is left: 100k + 60k + 50k of 220k allocated
    assert admin.post(f"/contracts/{LEASE}/allocations", body).status_code == 201


def test_allocations_cannot_exceed_a_contract_by_a_rounding_margin(
    demo: Ledger, admin: ApiClient
) -> None:
    tiny = {**CONTRACT, "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}]}
    assert admin.post("/contracts", tiny).status_code == 201
    assert admin.post("/contracts/ctr_colossus-2/sign", {"signed_by": ["x"]}).status_code == 200
    allocation = {
        "workload": "eval",
        "resource": "gpu.h100",
        "quantity": "0.5",
        "effective_at": "2028-05-06T00:00:00Z",
        "reason": "split",
    }
    assert admin.post("/contracts/ctr_colossus-2/allocations", allocation).status_code == 201
    head = demo.head().position
    over = {**allocation, "workload": "train", "quantity": "0.5000000000000000000000000001"}
    found = problem(admin.post("/contracts/ctr_colossus-2/allocations", over), 409)
    assert found["rule"] == "allocation_exceeds_contract"
    assert demo.head().position == head


def test_a_29_digit_capacity_is_recorded_unrounded(demo: Ledger, admin: ApiClient) -> None:
    quantity = "12345678901234567890123456789.000000000000000000000000000001"
    facility = {
        **{k: v for k, v in FACILITY.items() if k != "effective_at"},
        "capacity": [{"resource": "gpu.gb200", "quantity": quantity, "unit": "gpu"}],
    }
    created = admin.post("/facilities", facility)
    assert created.status_code == 201, created.content
    (resource,) = body_of(admin.get("/facilities/colossus-2"))["resources"]
    assert resource["capacity"] == quantity
    with demo.read() as conn:
        (last,) = demo.store.read_page(conn, demo.head().position - 1)
    assert quantity in last.payload


def test_scaling_a_limit_out_of_range_is_refused(demo: Ledger, admin: ApiClient) -> None:
    largest = {**LIMIT, "value": "9" * 30}
    assert admin.post("/tenants/anthropic/limits", largest).status_code == 201
    head = demo.head().position
    scale = {**LIMIT, "operation": "scale", "value": None, "factor": "10"}
    found = problem(admin.post("/tenants/anthropic/limits", scale), 409)
    assert found["rule"] == "limit_invalid"
    assert "before the decimal point" in found["detail"]
    assert demo.head().position == head


@pytest.mark.parametrize(
    ("path", "body", "rule"),
    [
        (f"/contracts/{LEASE}/sign", {"signed_by": ["x"]}, "contract_state"),
        (
            f"/contracts/{ORBITAL}/terminate",
            {"effective_at": "2028-02-01T00:00:00Z", "reason": "r"},
            "contract_state",
        ),
        (
            "/contracts",
            {**CONTRACT, "term": {"start": "2029-01-01T00:00:00Z", "end": "2029-01-01T00:00:00Z"}},
            "term_invalid",
        ),
        (
            "/contracts",
            {**CONTRACT, "facility": "orbital-1", "provider": "anthropic"},
            "party_role",
        ),
        ("/contracts", {**CONTRACT, "id": LEASE}, "already_exists"),
        ("/tenants/anthropic/limits", {**LIMIT, "value": "-1"}, "limit_invalid"),
        ("/parties", {"id": "anthropic", "name": "A", "roles": ["tenant"]}, "already_exists"),
    ],
)
def test_broken_rules_are_409(
    demo: Ledger, admin: ApiClient, path: str, body: dict[str, Any], rule: str
) -> None:
    head = demo.head().position
    assert problem(admin.post(path, body), 409)["rule"] == rule
    assert demo.head().position == head


def test_signing_an_overcommitting_contract_is_409(demo: Ledger, admin: ApiClient) -> None:
    overlapping = {
        **CONTRACT,
        "term": {"start": "2027-01-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"},
    }
    assert admin.post("/contracts", overlapping).status_code == 201
    found = problem(admin.post("/contracts/ctr_colossus-2/sign", {"signed_by": ["x"]}), 409)
    assert (found["rule"], found["resource"], found["at"]) == (
        "facility_overcommitted",
        "gpu.h100",
        "2027-01-01T00:00:00.000000Z",
    )


def test_a_resource_amended_to_zero_leaves_the_contract_from_then_on(
    demo: Ledger, admin: ApiClient
) -> None:
    """docs/api.md: quantity "0" removes one. The contract listed it with quantity 0."""
    amended = admin.post(
        f"/contracts/{LEASE}/amendments",
        {
            "effective_at": "2027-01-01T00:00:00Z",
            "capacity": [{"resource": "power.mw", "quantity": "0", "unit": "MW"}],
            "reason": "power contracted elsewhere",
        },
    )
    assert amended.status_code == 201, amended.content

    def resources(as_of: str) -> list[str]:
        lines = body_of(admin.get(f"/contracts/{LEASE}", as_of=as_of))["capacity"]
        return [line["resource"] for line in lines]

    assert resources("2026-12-01T00:00:00Z") == ["gpu.h100", "power.mw"]
    assert resources("2027-02-01T00:00:00Z") == ["gpu.h100"]


def test_unknown_resources_are_404(demo: Ledger, admin: ApiClient) -> None:
    problem(admin.get("/contracts/ctr_nope"), 404)
    problem(admin.post("/contracts/ctr_nope/void", {"reason": "r"}), 404)
    problem(admin.post(f"/contracts/{LEASE}/allocations/alc_nope/release", {}), 404)
    problem(admin.get("/tenants/nobody/entitlements"), 404)
    problem(admin.get("/facilities/nowhere"), 404)
    problem(admin.get("/streams/party-nobody"), 404)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/facilities/%2C%20/capacity",
            {
                "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
                "effective_at": "2026-01-01T00:00:00Z",
                "reason": "r",
            },
        ),
        (
            "/tenants/Anthropic/limits",
            {"plan": "p", "limit": "l", "operation": "remove", "reason": "r"},
        ),
        ("/tenants/%2C%20/periods/close", {"through": "2026-01-01T00:00:00Z"}),
        ("/tenants/a%20b/periods/reopen", {"through": "2026-01-01T00:00:00Z", "reason": "r"}),
        (f"/contracts/{LEASE}/allocations/ALC/resize", {"quantity": "1", "reason": "r"}),
        (f"/contracts/{LEASE}/allocations/a%20b/release", {}),
    ],
)
def test_a_path_id_not_in_the_form_of_ids_names_nothing(
    demo: Ledger, admin: ApiClient, path: str, body: dict[str, Any]
) -> None:
    """The document publishes path ids as strings: one that no id could be is 404, like
    any id that does not exist, and writes nothing."""
    head = demo.head().position
    assert problem(admin.post(path, body), 404)["type"] == "/api/v1/problems/not-found"
    assert demo.head().position == head


def test_a_facility_known_at_a_position_before_its_registration_is_404(
    demo: Ledger, admin: ApiClient
) -> None:
    """known_at is what the ledger knew: a facility registered later did not exist then."""
    with demo.read() as conn:
        registered = demo.store.read_stream(conn, "facility-colossus-1")[0].position

    problem(admin.get("/facilities/colossus-1", known_at=registered - 1), 404)
    assert body_of(admin.get("/facilities/colossus-1", known_at=registered))["name"]


def tenant_reads(tenant: str) -> Any:
    """The four reads of a tenant's entitlements, as (path, params) cases."""
    return pytest.mark.parametrize(
        ("path", "params"),
        [
            (f"/tenants/{tenant}/entitlements", {}),
            (f"/tenants/{tenant}/limits", {}),
            (
                f"/tenants/{tenant}/entitlements/timeline",
                {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
            ),
            (f"/tenants/{tenant}/entitlements/changes", {"since_position": 0}),
        ],
        ids=["entitlements", "limits", "timeline", "changes"],
    )


@tenant_reads("spacex")
def test_a_party_that_is_no_tenant_has_no_entitlements_to_read(
    demo: Ledger, admin: ApiClient, path: str, params: dict[str, Any]
) -> None:
    """A provider read as a tenant answered an empty 200: "nothing in force" for what is a
    wrong tenant id."""
    body = problem(admin.get(path, **params), 404)
    assert body["detail"] == "tenant 'spacex' not found"


@tenant_reads("anthropic")
def test_a_tenant_known_at_a_position_before_its_registration_is_404(
    demo: Ledger, admin: ApiClient, path: str, params: dict[str, Any]
) -> None:
    """What the ledger knew then held no such tenant: no empty answer, a 404 (as for a
    facility or a contract)."""
    with demo.read() as conn:
        registered = demo.store.read_stream(conn, "party-anthropic")[0].position
        recorded = demo.store.read_stream(conn, "party-anthropic")[0].recorded_at

    problem(admin.get(path, **params, known_at=registered - 1), 404)
    assert admin.get(path, **params, known_at=registered).status_code == 200
    before = (recorded - timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    problem(admin.get(path, **params, known_at=before), 404)


# -- If-Match ------------------------------------------------------------------------------


def test_if_match_with_a_stale_version_is_412(demo: Ledger, admin: ApiClient) -> None:
    current = admin.get(f"/contracts/{ORBITAL}")
    etag = current["ETag"]
    assert etag == f'"{current.json()["version"]}"'
    head = demo.head().position
    stale = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers={"If-Match": '"0"'})
    problem(stale, 412)
    assert demo.head().position == head
    fresh = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers={"If-Match": etag})
    assert fresh.status_code == 200
    problem(
        admin.post(f"/contracts/{ORBITAL}/revise", {"title": "y"}, headers={"If-Match": etag}), 412
    )
    problem(
        admin.post(f"/contracts/{ORBITAL}/revise", {"title": "y"}, headers={"If-Match": "banana"}),
        422,
    )


@pytest.mark.parametrize(
    "pin", ['"' + "9" * 5000 + '"', "9" * 4301, '"9007199254740992"', 'W/"' + "1" * 40 + '"']
)
def test_if_match_beyond_any_version_is_412_not_a_crash(
    demo: Ledger, admin: ApiClient, pin: str
) -> None:
    head = demo.head()
    refused = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers={"If-Match": pin})
    assert problem(refused, 412)["type"] == "/api/v1/problems/precondition-failed"
    assert demo.head() == head


@pytest.mark.parametrize("pin", ['"\u00b2"', '"\u0661"', '"3', '""', '"-1"', '" 3"', '"3"x', "W/3"])
def test_if_match_that_is_no_version_etag_is_422_naming_the_header(
    demo: Ledger, admin: ApiClient, pin: str
) -> None:
    head = demo.head()
    refused = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers={"If-Match": pin})
    assert problem(refused, 422)["errors"] == [
        {"loc": ["header", "If-Match"], "msg": "not a version ETag"}
    ]
    assert demo.head() == head


def test_if_match_accepts_a_weak_etag_of_the_current_version(
    demo: Ledger, admin: ApiClient
) -> None:
    version = admin.get(f"/contracts/{ORBITAL}").json()["version"]
    fresh = admin.post(
        f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers={"If-Match": f'W/"{version}"'}
    )
    assert fresh.status_code == 200, fresh.content


# -- idempotency ---------------------------------------------------------------------------


def test_a_pinned_repeat_that_lost_to_its_first_copy_replays_it(
    demo: Ledger, admin: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of one request, both with If-Match and the same key, run concurrently:
    the second looks for the key before the first commits, then conflicts with it. It
    must answer what the first did, not 412. (The race is staged: the second copy's first
    look is made to miss.)"""
    etag = admin.get(f"/contracts/{ORBITAL}")["ETag"]
    headers = {"If-Match": etag, "Idempotency-Key": "revise-1"}
    first = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers=headers)
    assert first.status_code == 200
    find = UnitOfWork.find_idempotent
    looks: list[object] = []

    def too_early(uow: UnitOfWork, *args: Any) -> Any:
        looks.append(args)
        return None if len(looks) == 1 else find(uow, *args)

    monkeypatch.setattr(UnitOfWork, "find_idempotent", too_early)
    head = demo.head().position
    second = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers=headers)
    assert (second.status_code, second.content) == (200, first.content)
    assert second["Idempotent-Replayed"] == "true"
    assert (len(looks), demo.head().position) == (2, head)
    other = admin.post(
        f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers={**headers, "Idempotency-Key": "2"}
    )
    problem(other, 412)  # a stale pin without its first copy still conflicts


def test_a_repeated_idempotent_post_replays_the_first_answer(
    demo: Ledger, admin: ApiClient
) -> None:
    headers = {"Idempotency-Key": "limit-1"}
    first = admin.post("/tenants/anthropic/limits", LIMIT, headers=headers)
    head = demo.head().position
    again = admin.post("/tenants/anthropic/limits", LIMIT, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Idempotent-Replayed"] == "true"
    assert demo.head().position == head
    # The same body re-encoded (other key order, indentation) is the same request.
    reencoded = json.dumps(dict(reversed(LIMIT.items())), indent=2)
    replayed = admin.post("/tenants/anthropic/limits", reencoded, headers=headers)
    assert (replayed.status_code, replayed.content) == (first.status_code, first.content)
    assert demo.head().position == head
    other = admin.post("/tenants/anthropic/limits", {**LIMIT, "value": "121"}, headers=headers)
    assert problem(other, 422)["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert demo.head().position == head


def test_a_refusal_is_the_answer_an_idempotent_repeat_gets(demo: Ledger, admin: ApiClient) -> None:
    """docs/api.md: a repeat returns the first response. A refusal is one: were the repeat
    decided afresh once room was made, one key would have had two answers."""
    headers = {"Idempotency-Key": "eval-1"}
    body = dict(OVER_ALLOCATION)
    first = admin.post(f"/contracts/{LEASE}/allocations", body, headers=headers)
    assert problem(first, 409)["rule"] == "allocation_exceeds_contract"
    smaller = {"quantity": "1000", "effective_at": "2026-06-01T00:00:00Z", "reason": "room"}
    resized = admin.post(f"/contracts/{LEASE}/allocations/alc_training/resize", smaller)
    assert resized.status_code == 200, resized.content  # decided afresh, the repeat would fit
    head = demo.head().position

    again = admin.post(f"/contracts/{LEASE}/allocations", body, headers=headers)
    assert (again.status_code, again.content) == (409, first.content)
    assert again["Content-Type"] == "application/problem+json"
    assert again["Idempotent-Replayed"] == "true"
    assert demo.head().position == head

    unknown = {**CONTRACT, "facility": "nowhere"}
    refused = admin.post("/contracts", unknown, headers={"Idempotency-Key": "draft-1"})
    assert problem(refused, 404)
    repeat = admin.post("/contracts", unknown, headers={"Idempotency-Key": "draft-1"})
    assert (repeat.status_code, repeat["Idempotent-Replayed"]) == (404, "true")
    assert repeat.content == refused.content


def test_a_replay_carries_the_first_answers_headers(demo: Ledger, admin: ApiClient) -> None:
    headers = {"Idempotency-Key": "revise-headers"}
    first = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers=headers)
    assert first.status_code == 200, first.content
    again = admin.post(f"/contracts/{ORBITAL}/revise", {"title": "x"}, headers=headers)
    assert again.content == first.content
    assert (again["ETag"], again["Content-Type"]) == (first["ETag"], "application/json")
    assert first["ETag"] == f'"{orjson.loads(first.content)["version"]}"'
    with demo.read() as conn:
        kept = conn.execute(
            select(idempotency_keys.c.headers).where(idempotency_keys.c.key == "revise-headers")
        ).scalar_one()
    assert orjson.loads(kept) == [["Content-Type", "application/json"], ["ETag", first["ETag"]]]


@pytest.mark.parametrize("refused", [False, True])
def test_a_record_kept_before_headers_were_replays_with_the_headers_sent_then(
    demo: Ledger, admin: ApiClient, refused: bool
) -> None:
    """Records written before alembic 0007 have no headers: the replay rebuilds them."""
    body = dict(OVER_ALLOCATION) if refused else {"title": "x"}
    path = f"/contracts/{LEASE}/allocations" if refused else f"/contracts/{ORBITAL}/revise"
    headers = {"Idempotency-Key": "old-record"}
    first = admin.post(path, body, headers=headers)
    with demo.engine.begin() as conn:
        conn.execute(update(idempotency_keys).values(headers=None))
    again = admin.post(path, body, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Content-Type"] == first["Content-Type"]
    assert again.get("ETag") == first.get("ETag")
    assert ("ETag" in again) is not refused


def test_idempotency_keys_belong_to_their_api_key(demo: Ledger, make_client: Any) -> None:
    headers = {"Idempotency-Key": "same"}
    first = make_client("limits:write").post("/tenants/anthropic/limits", LIMIT, headers=headers)
    second = make_client("limits:write").post(
        "/tenants/anthropic/limits", {**LIMIT, "value": "130"}, headers=headers
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert body_of(second)["position"] == body_of(first)["position"] + 1


def test_an_invalid_idempotency_key_is_422(demo: Ledger, admin: ApiClient) -> None:
    found = problem(
        admin.post("/tenants/anthropic/limits", LIMIT, headers={"Idempotency-Key": "x" * 256}), 422
    )
    assert found["errors"][0]["loc"] == ["header", "Idempotency-Key"]


# -- dry runs ------------------------------------------------------------------------------


def test_a_dry_run_answers_with_the_events_and_appends_nothing(
    demo: Ledger, admin: ApiClient
) -> None:
    head = demo.head().position
    response = admin.post("/tenants/anthropic/limits?dry_run=true", LIMIT)
    assert response.status_code == 201
    body = body_of(response)
    assert (body["dry_run"], body["position"]) == (True, None)
    [event] = body["events"]
    assert (event["stream_id"], event["type"], event["payload"]["value"]) == (
        "party-anthropic",
        "LimitChanged",
        "120",
    )
    assert event["metadata"]["reason"] == "holiday boost"
    assert demo.head().position == head
    assert "result" not in body
    bad = copy.deepcopy(LIMIT) | {"effective_at": "2026-12-01T00:00:00Z", "value": "-5"}
    assert (
        problem(admin.post("/tenants/anthropic/limits?dry_run=true", bad), 409)["rule"]
        == "limit_invalid"
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tenants/anthropic/limits", LIMIT),
        ("/contracts", CONTRACT),
        (f"/contracts/{LEASE}/allocations", {**OVER_ALLOCATION, "quantity": "5"}),
        ("/parties", {"id": "acme", "name": "Acme", "roles": ["tenant"]}),
    ],
)
def test_a_dry_run_answers_the_body_the_write_then_answers(
    demo: Ledger, admin: ApiClient, path: str, body: dict[str, Any]
) -> None:
    """docs/api.md: a dry run "answers as it would": the write's own body, with the events it
    would append under `events` and no position (it appended nothing)."""
    head = demo.head().position
    dry = admin.post(f"{path}?dry_run=true", body)
    assert demo.head().position == head
    real = admin.post(path, body)
    assert dry.status_code == real.status_code
    planned, written = body_of(dry), body_of(real)
    # The ledger never knew what a dry run shows: no position, no knowledge of it.
    assert (planned.pop("dry_run"), planned.pop("position"), planned.pop("known_at")) == (
        True,
        None,
        None,
    )
    assert len(planned.pop("events")) == demo.head().position - head
    written.pop("position")
    written.pop("known_at", None)
    for answer in (planned, written):  # ids are generated anew by each
        if path == f"/contracts/{LEASE}/allocations":
            allocations = answer["allocations"]
            assert allocations[-1]["allocation_id"] == answer.pop("allocation_id")
            allocations[-1].pop("allocation_id")
    assert planned == written


# -- request limits and Django's own errors -------------------------------------------------


def test_a_body_over_the_limit_is_413(demo: Ledger, admin: ApiClient, settings: Any) -> None:
    settings.LEDGER_API_MAX_BODY_BYTES = 1000
    head = demo.head().position
    found = problem(
        admin.post("/parties", {"id": "acme", "name": "A" * 1000, "roles": ["tenant"]}), 413
    )
    assert "1000 bytes" in found["detail"]
    assert demo.head().position == head
    settings.LEDGER_API_MAX_BODY_BYTES = 2000
    assert (
        admin.post("/parties", {"id": "acme", "name": "A" * 400, "roles": ["tenant"]}).status_code
        == 201
    )


def test_unknown_paths_and_methods_are_problem_json(demo: Ledger, admin: ApiClient) -> None:
    assert "/api/v1/nothing-here" in problem(admin.get("/nothing-here"), 404)["detail"]
    response = admin.client.delete("/api/v1/parties")
    problem(response, 405)
    assert set(response["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_an_unexpected_failure_is_a_500_problem_without_details(
    demo: Ledger, admin: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(read, "entitlements_json", broken)
    found = problem(admin.get("/tenants/anthropic/entitlements"), 500)
    assert "secret" not in found["detail"]


# Batches of 2: a status filter reads on across batches of the contracts table.
@pytest.mark.parametrize("batch", [read.BATCH, 2])
def test_lists_page_with_cursors_seeing_each_item_once(
    demo: Ledger, admin: ApiClient, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    # The module, not `read.contracts` (the function it exports): `contracts()` reads BATCH there.
    monkeypatch.setattr(sys.modules["ledger.read.contract_reads"], "BATCH", batch)
    for n in range(5):
        body = {"id": f"tenant-{n}", "name": f"Tenant {n}", "roles": ["tenant"]}
        assert admin.post("/parties", body).status_code == 201
        contract = {**CONTRACT, "id": f"ctr_{n}", "tenant": f"tenant-{n}"}
        assert admin.post("/contracts", contract).status_code == 201

    def walk(path: str, **params: str) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            page = admin.get(
                path, limit="2", **params, **({"cursor": cursor} if cursor else {})
            ).json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    parties = walk("/parties")
    assert parties == sorted(["anthropic", "spacex", *(f"tenant-{n}" for n in range(5))])
    drafts = walk("/contracts", status="draft")
    assert drafts == sorted([ORBITAL, *(f"ctr_{n}" for n in range(5))])
    assert walk("/contracts", status="active") == [LEASE]
    assert walk("/contracts", tenant="tenant-3") == ["ctr_3"]


# -- revising a draft: absent, set, cleared ------------------------------------------------


def test_revise_clears_the_reference_on_an_explicit_null_and_keeps_it_when_absent(
    demo: Ledger, admin: ApiClient
) -> None:
    assert (
        body_of(admin.post(f"/contracts/{ORBITAL}/revise", {"reference": "PO-7"}))["reference"]
        == "PO-7"
    )
    kept = body_of(admin.post(f"/contracts/{ORBITAL}/revise", {"title": "Orbital pilot"}))
    assert (kept["title"], kept["reference"]) == ("Orbital pilot", "PO-7")

    cleared = body_of(admin.post(f"/contracts/{ORBITAL}/revise", {"reference": None}))

    assert (cleared["title"], cleared["reference"]) == ("Orbital pilot", None)
    assert body_of(admin.get(f"/contracts/{ORBITAL}"))["reference"] is None
    with demo.read() as conn:
        last = demo.store.read_stream(conn, f"contract-{ORBITAL}")[-1]
    assert (last.type, orjson.loads(last.payload)["cleared"]) == (
        "ContractDraftRevised",
        ["reference"],
    )


def test_revise_clears_the_commercial_terms_on_an_explicit_null(
    demo: Ledger, admin: ApiClient
) -> None:
    terms = {"payment": "net 30"}
    set_ = admin.post(f"/contracts/{ORBITAL}/revise", {"commercial_terms": terms})
    assert body_of(set_)["commercial_terms"] == terms

    cleared = admin.post(
        f"/contracts/{ORBITAL}/revise", {"title": "Orbital option", "commercial_terms": None}
    )

    assert (body_of(cleared)["title"], body_of(cleared)["commercial_terms"]) == (
        "Orbital option",
        None,
    )


@pytest.mark.postgres  # SQLite writers are serialised from BEGIN: nothing can come between
def test_a_dry_run_retries_a_version_race_as_its_write_does(
    demo: Ledger, admin: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another write commits between the dry run's decision and its append: the write
    would decide again and succeed, and so must its dry run (it answered 409)."""
    revise = handlers.HANDLERS[c.ReviseDraft]
    interleaved: list[int] = []

    def revise_then_someone_else_writes(state: Any, cmd: Any, ctx: Any, now: Any) -> Any:
        decision = revise(state, cmd, ctx, now)
        if not interleaved:
            interleaved.append(1)
            service.execute(
                demo,
                c.ReviseDraft(contract_id=ORBITAL, title="retitled by someone else"),
                service.Context(actor="other"),
            )
        return decision

    monkeypatch.setitem(handlers.HANDLERS, c.ReviseDraft, revise_then_someone_else_writes)
    head = demo.head().position

    dry = admin.post(f"/contracts/{ORBITAL}/revise?dry_run=true", {"reference": "PO-1"})

    assert dry.status_code == 200, dry.content
    assert (interleaved, demo.head().position) == ([1], head + 1)  # only the other's write
    assert body_of(dry)["title"] == "retitled by someone else"  # decided again, after it


@pytest.mark.parametrize("field", ["title", "provider", "tenant", "facility", "term", "capacity"])
def test_revise_refuses_to_clear_a_field_a_contract_needs(
    demo: Ledger, admin: ApiClient, field: str
) -> None:
    head = demo.head().position
    found = problem(admin.post(f"/contracts/{ORBITAL}/revise", {field: None}), 422)
    assert found["errors"] == [{"loc": ["body", field], "msg": "cannot be cleared"}]
    assert demo.head().position == head


def test_changes_leave_out_a_limit_set_again_to_the_value_it_had(
    demo: Ledger, admin: ApiClient
) -> None:
    """docs/api.md: changes are "the intervals whose entitlements differ"; a limit set to the
    value it already had differs nowhere, and a billing system has nothing to re-bill."""
    assert admin.post("/tenants/anthropic/limits", LIMIT).status_code == 201
    since = demo.head().position
    again = admin.post(
        "/tenants/anthropic/limits",
        {**LIMIT, "effective_at": "2026-12-15T00:00:00Z", "reason": "confirmed"},
    )
    assert again.status_code == 201
    assert demo.head().position == since + 1  # recorded: someone did set it

    report = body_of(admin.get("/tenants/anthropic/entitlements/changes", since_position=since))

    assert report["items"] == []
    changed = admin.post("/tenants/anthropic/limits", {**LIMIT, "value": "121"})
    assert changed.status_code == 201
    report = body_of(admin.get("/tenants/anthropic/entitlements/changes", since_position=since))
    assert [(i["before"]["value"], i["after"]["value"]) for i in report["items"]] == [
        ("120", "121")
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            f"/contracts/{LEASE}/amendments",
            {
                "effective_at": "2027-01-01T00:00:00Z",
                "capacity": [{"resource": "gpu.h100", "quantity": "200", "unit": "rack"}],
                "reason": "re-rack",
            },
        ),
        (
            "/facilities/colossus-1/capacity",
            {
                "effective_at": "2027-01-01T00:00:00Z",
                "capacity": [{"resource": "power.mw", "quantity": "300000", "unit": "kW"}],
                "reason": "metering in kW",
            },
        ),
    ],
)
def test_a_change_that_measures_a_resource_in_another_unit_is_refused(
    demo: Ledger, admin: ApiClient, path: str, body: dict[str, Any]
) -> None:
    head = demo.head()
    refused = problem(admin.post(path, body), 422)
    assert [e["loc"] for e in refused["errors"]] == [["body", "capacity", 0, "unit"]]
    assert demo.head() == head
