"""The admin respects optimistic concurrency: a contract command's form carries the
version the page showed and runs only while the contract is still at it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from ledger.demo import LEASE, ORBITAL
from ledger.domain import commands as c
from ledger.service import Context, execute
from ledger.unit_of_work import Ledger
from tests.admin.test_admin import ADMIN, demo, last_event, ops, version

__all__ = ["demo", "ops"]

ALLOCATE = {
    "workload": "eval",
    "resource": "gpu.h100",
    "quantity": "10",
    "effective_at": "2026-07-01 00:00",
    "reason": "backfill",
}


def someone_else_allocates(ledger: Ledger) -> None:
    execute(
        ledger,
        c.AllocateCapacity(
            contract_id=LEASE,
            workload="other",
            resource="gpu.h100",
            quantity=1,
            reason="meanwhile",
        ),
        Context(actor="someone-else", source="api"),
    )


def test_the_contract_page_links_its_commands_with_the_version_it_shows(
    demo: Ledger, ops: Client
) -> None:
    page = ops.get(f"{ADMIN}/contract/{LEASE}/change/").content.decode()
    shown = version(demo, LEASE)
    links = re.findall(r'href="([^"]*/(?:command|allocations)/[^"]*)"', page)
    assert links, page[:2000]
    assert all(link.endswith(f"?version={shown}") for link in links), links
    form = ops.get(links[0])
    assert form.context["form"].initial == {"version": int(shown)}
    assert f'name="version" value="{shown}"' in form.content.decode()


def test_a_form_opened_on_a_page_gone_stale_writes_nothing(demo: Ledger, ops: Client) -> None:
    shown = version(demo, LEASE)
    opened = ops.get(f"{ADMIN}/contract/{LEASE}/command/allocate/?version={shown}")
    assert opened.status_code == 200
    someone_else_allocates(demo)
    head = demo.head()

    response = ops.post(
        f"{ADMIN}/contract/{LEASE}/command/allocate/", {**ALLOCATE, "version": shown}
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        f"The contract changed since you opened it (you saw version {shown}, it is at"
        f" version {int(shown) + 1} now): reload it and retry. Nothing was written."
    ]
    assert demo.head() == head
    fresh = ops.post(
        f"{ADMIN}/contract/{LEASE}/command/allocate/", {**ALLOCATE, "version": version(demo, LEASE)}
    )
    assert fresh.status_code == 302
    assert last_event(demo).metadata_dict()["actor"] == "ops"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/contract/{LEASE}/allocations/alc_training/resize/", {"quantity": "1", "reason": "r"}),
        (f"/contract/{LEASE}/allocations/alc_training/release/", {}),
        (f"/contract/{ORBITAL}/command/void/", {"reason": "r"}),
    ],
)
def test_every_contract_form_is_pinned(
    demo: Ledger, ops: Client, path: str, body: dict[str, str]
) -> None:
    contract = path.split("/")[2]
    stale = version(demo, contract)
    if contract == LEASE:
        someone_else_allocates(demo)
    else:
        execute(demo, c.ReviseDraft(contract_id=ORBITAL, title="renamed"), Context(actor="x"))
    head = demo.head()
    response = ops.post(f"{ADMIN}{path}", {**body, "version": stale})
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert error.startswith("The contract changed since you opened it")
    assert demo.head() == head


def test_a_form_that_does_not_say_what_it_showed_writes_nothing(demo: Ledger, ops: Client) -> None:
    head = demo.head()
    response = ops.post(f"{ADMIN}/contract/{LEASE}/command/allocate/", ALLOCATE)
    assert response.status_code == 200
    assert "version" in response.context["form"].errors
    assert "open it again from the contract" in response.content.decode()
    assert demo.head() == head
