"""Every admin URL Django generates for the registered models answers a page, a redirect,
403 or 404, never a 500: for a superuser and for a staff user without permissions."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from contracts.admin import ALLOCATION_COMMANDS, CONTRACT_COMMANDS, PartyAdmin
from ledger.demo import LEASE, ORBITAL, load_demo
from ledger.unit_of_work import Ledger

ANSWERS = {200, 302, 403, 404}


def patterns(entries: list[URLPattern | URLResolver]) -> Iterator[URLPattern]:
    for entry in entries:
        if isinstance(entry, URLResolver):
            yield from patterns(entry.url_patterns)
        elif entry.name:
            yield entry


def arguments(ledger: Ledger) -> dict[str, list[str]]:
    with ledger.read() as conn:
        positions = [str(p) for (p,) in conn.exec_driver_sql("SELECT position FROM ledger_events")]
        allocations = [
            a for (a,) in conn.exec_driver_sql("SELECT allocation_id FROM ledger_allocations_a")
        ][:1]
    commands = sorted({*CONTRACT_COMMANDS, *ALLOCATION_COMMANDS, *PartyAdmin.COMMANDS, "nope"})
    return {
        "object_id": [*positions[:1], *positions[-1:], "anthropic", LEASE, "999999", "x y"],
        "party_id": ["anthropic", "spacex", "nobody"],
        "facility_id": ["colossus-1", "nowhere"],
        "contract_id": [LEASE, ORBITAL, "ctr_none"],
        "allocation_id": [*allocations, "alc_none"],
        "name": commands,
        "content_type_id": ["1"],
        "id": ["1", "999999"],
    }


def urls(ledger: Ledger) -> list[str]:
    values = arguments(ledger)
    found = []
    for model_admin in admin.site._registry.values():
        for pattern in patterns(model_admin.get_urls()):
            names = list(pattern.pattern.regex.groupindex)
            for combination in itertools.product(*(values[n] for n in names)):
                found.append(
                    reverse(
                        f"admin:{pattern.name}", kwargs=dict(zip(names, combination, strict=True))
                    )
                )
    return sorted(set(found))


@pytest.fixture
def demo(ledger: Ledger) -> Ledger:
    load_demo(ledger)
    return ledger


def test_every_admin_url_answers_a_superuser_without_a_server_error(demo: Ledger) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    answered = {url: client.get(url).status_code for url in urls(demo)}
    assert len(answered) > 100
    assert {url: s for url, s in answered.items() if s not in ANSWERS} == {}
    assert answered[reverse("admin:contracts_event_changelist")] == 200


def test_every_admin_url_answers_a_staff_user_without_permissions(demo: Ledger) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    answered = {url: client.get(url).status_code for url in urls(demo)}
    assert {url: s for url, s in answered.items() if s not in ANSWERS} == {}
    assert answered[reverse("admin:contracts_contract_add")] == 403
