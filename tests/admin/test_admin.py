"""The admin as a command console: lists, command forms, domain errors as form errors,
permissions per command family, and no way to edit or delete a row directly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from ledger import read
from ledger.demo import LEASE, ORBITAL, load_demo
from ledger.unit_of_work import Ledger
from tests.support import recorded_statements

ADMIN = "/admin/contracts"


@pytest.fixture
def demo(ledger: Ledger) -> Ledger:
    load_demo(ledger)
    return ledger


@pytest.fixture
def ops(db: None) -> Client:
    user = User.objects.create_superuser("ops", "ops@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def staff(*codenames: str) -> Client:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def version(ledger: Ledger, contract_id: str) -> str:
    """The version a contract's page shows, which its command forms carry."""
    with ledger.read() as conn:
        return str(read.contract(conn, contract_id, ledger.clock()).version)


def last_event(ledger: Ledger) -> Any:
    with ledger.read() as conn:
        [record] = ledger.store.read_page(conn, ledger.head().position - 1, 1)
    return record


@pytest.mark.parametrize(
    "url",
    [
        f"{ADMIN}/event/",
        f"{ADMIN}/event/?type__exact=LimitChanged",
        f"{ADMIN}/event/?kind=contract",
        f"{ADMIN}/event/?tenant=anthropic",
        f"{ADMIN}/event/?q=correction",
        f"{ADMIN}/event/?recorded_at__gte=2020-01-01T00:00:00%2B00:00",
        f"{ADMIN}/contract/",
        f"{ADMIN}/contract/?tenant__exact=anthropic",
        f"{ADMIN}/contract/?facility__exact=colossus-1",
        f"{ADMIN}/contract/?status=active",
        f"{ADMIN}/contract/?status=draft",
        f"{ADMIN}/party/",
        f"{ADMIN}/party/?q=spacex",
        f"{ADMIN}/facility/",
        f"{ADMIN}/allocation/?tenant=anthropic",
        f"{ADMIN}/limitchange/?q=peak",
        f"{ADMIN}/contract/{LEASE}/change/",
        f"{ADMIN}/party/anthropic/page/",
        f"{ADMIN}/party/anthropic/page/?as_of=2026-07-01&known_at=5",
    ],
)
def test_every_list_and_page_renders(demo: Ledger, ops: Client, url: str) -> None:
    response = ops.get(url)
    assert response.status_code == 200, url


def test_every_link_of_the_contract_list_opens_its_contract(demo: Ledger, ops: Client) -> None:
    """The list quotes ids as the admin does (`_` as `_5F`): each link must still open its
    contract, as the ledger's own unquoted links do."""
    changelist = ops.get(f"{ADMIN}/contract/")
    links = sorted(
        set(re.findall(rf'href="({ADMIN}/contract/[^"/]+/change/)"', changelist.content.decode()))
    )
    assert len(links) == 2
    for link in links:
        page = ops.get(link)
        assert page.status_code == 200, link
    assert ops.get(f"{ADMIN}/contract/{LEASE}/change/").status_code == 200


@pytest.mark.parametrize("odd", ["a%0Ab", f"{LEASE}%0A", "a%00b", "a_5F%00"])
def test_ids_no_ledger_writes_are_not_found(demo: Ledger, ops: Client, odd: str) -> None:
    """A newline broke the pages' own URLs; a NUL, PostgreSQL's text (500s)."""
    for url in (
        f"{ADMIN}/contract/{odd}/change/",
        f"{ADMIN}/contract/{odd}/command/sign/",
        f"{ADMIN}/contract/{odd}/allocations/x/resize/",
        f"{ADMIN}/contract/{LEASE}/allocations/{odd}/resize/",
        f"{ADMIN}/party/{odd}/page/",
        f"{ADMIN}/party/{odd}/command/close/",
        f"{ADMIN}/facility/{odd}/capacity/",
    ):
        assert ops.get(url).status_code == 404, url


def test_a_known_at_with_leading_zeros_is_that_position(demo: Ledger, ops: Client) -> None:
    def allocated(known_at: str) -> object:
        page = ops.get(f"{ADMIN}/party/anthropic/page/?as_of=2026-07-01&known_at={known_at}")
        return page.context["entitlements"].capacity[0].allocated

    before = demo.head().position - 1  # just before the backdated correction
    assert allocated("0" * 20 + str(before)) == allocated(str(before)) != allocated("")


def test_ids_of_more_digits_than_int_reads_are_not_found(demo: Ledger, ops: Client) -> None:
    digits = "1" * 5_000
    for kind in ("facility", "party", "allocation"):
        assert ops.get(f"{ADMIN}/{kind}/{digits}/change/").status_code == 404, kind
    page = ops.get(f"{ADMIN}/party/anthropic/page/?known_at={digits}")
    assert page.status_code == 200
    assert page.context["entitlements"] is None  # refused, as the API refuses it
    assert "positions run from 0 to 9007199254740991" in page.content.decode()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("as_of=1 July 2026", "is not an RFC 3339 instant"),
        ("as_of=2026-07-01T00:00:00%2B25:00", "is not an RFC 3339 instant"),
        ("known_at=yesterday", "is neither a position"),
        ("known_at=-1", "is neither a position"),
        ("known_at=9007199254740992", "positions run from 0 to 9007199254740991"),
        ("as_of=2026-07-01&known_at=2026-13-01", "is neither a position"),
    ],
)
def test_a_box_the_ledger_cannot_read_shows_why_and_no_answer(
    demo: Ledger, ops: Client, query: str, reason: str
) -> None:
    page = ops.get(f"{ADMIN}/party/anthropic/page/?{query}")
    assert page.status_code == 200
    assert page.context["entitlements"] is None
    assert page.context["charts"] == []
    body = page.content.decode()
    assert 'id="time-travel-errors"' in body
    assert reason in body
    assert 'id="entitlements"' not in body


@pytest.mark.parametrize(
    ("as_of", "known_at"),
    [
        ("2026-07-01", "2026-12-31"),
        ("2026-07-01T00:00", "2026-12-31 00:00:00"),
        ("2026-07-01T02:00:00%2B02:00", "2026-12-31T02:00:00%2B02:00"),
    ],
)
def test_the_page_reads_its_shorthand_as_utc_instants(
    demo: Ledger, ops: Client, as_of: str, known_at: str
) -> None:
    """A date alone is midnight UTC; a datetime-local value is UTC, as the boxes say."""
    page = ops.get(f"{ADMIN}/party/anthropic/page/?as_of={as_of}&known_at={known_at}")
    shown = page.context["entitlements"]
    midnight = datetime(2026, 7, 1, tzinfo=UTC)
    with demo.read() as conn:
        expected = read.entitlements(
            conn, "anthropic", midnight, datetime(2026, 12, 31, tzinfo=UTC)
        )
    assert shown.as_of == midnight
    assert shown.known_at == expected.known_at


def test_filters_and_search_find_the_right_rows(demo: Ledger, ops: Client) -> None:
    active = ops.get(f"{ADMIN}/contract/?status=active").content.decode()
    assert LEASE in active
    assert ORBITAL not in active
    drafts = ops.get(f"{ADMIN}/contract/?status=draft").content.decode()
    assert ORBITAL in drafts
    assert LEASE not in drafts
    correction = ops.get(f"{ADMIN}/event/?q=correction").context["cl"].result_list
    assert [e.type for e in correction] == ["AllocationResized"]
    event_id = correction[0].event_id
    assert [
        e.event_id for e in ops.get(f"{ADMIN}/event/?q={event_id}").context["cl"].result_list
    ] == [event_id]
    spacex = ops.get(f"{ADMIN}/event/?tenant=anthropic").context["cl"].result_list
    assert {e.stream_id for e in spacex} == {
        "party-anthropic",
        f"contract-{LEASE}",
        f"contract-{ORBITAL}",
    }


def test_no_page_edits_or_deletes_an_event_or_a_projection_row(demo: Ledger, ops: Client) -> None:
    head = demo.head()
    for url in (
        f"{ADMIN}/event/1/change/",
        f"{ADMIN}/event/1/delete/",
        f"{ADMIN}/contract/{LEASE}/delete/",
        f"{ADMIN}/party/1/delete/",
    ):
        response = ops.post(url, {"post": "yes", "payload": "{}"})
        assert response.status_code in (403, 404), url
    event_page = ops.get(f"{ADMIN}/event/1/change/").content.decode()
    assert 'name="_save"' not in event_page
    changelist = ops.get(f"{ADMIN}/event/").content.decode()
    assert "delete_selected" not in changelist
    assert demo.head() == head
    assert demo.verify().ok


def test_drafting_a_contract_is_a_ledger_command_by_the_admin_user(
    demo: Ledger, ops: Client
) -> None:
    response = ops.post(
        f"{ADMIN}/contract/add/",
        {
            "contract_id": "ctr_renewal",
            "provider": "spacex",
            "tenant": "anthropic",
            "facility": "colossus-1",
            "title_": "Renewal",
            "term_start": "2028-05-06 00:00",
            "term_end": "2029-05-06 00:00",
            "capacity": "gpu.h100 100000 gpu\npower.mw 150 MW",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == f"{ADMIN}/contract/ctr_renewal/change/"
    event = last_event(demo)
    assert (event.type, event.stream_id) == ("ContractDrafted", "contract-ctr_renewal")
    assert event.metadata_dict() == {"actor": "ops", "source": "admin"}


def test_revising_a_draft_in_the_admin_can_clear_its_reference(demo: Ledger, ops: Client) -> None:
    revise = f"{ADMIN}/contract/{ORBITAL}/command/revise/"
    assert (
        ops.post(revise, {"reference": "PO-7", "version": version(demo, ORBITAL)}).status_code
        == 302
    )
    assert orjson.loads(last_event(demo).payload)["reference"] == "PO-7"

    response = ops.post(revise, {"clear_reference": "on", "version": version(demo, ORBITAL)})

    assert response.status_code == 302, response.content.decode()[:2000]
    event = last_event(demo)
    assert (event.type, orjson.loads(event.payload)["cleared"]) == (
        "ContractDraftRevised",
        ["reference"],
    )
    with demo.read() as conn:
        assert read.contract(conn, ORBITAL, demo.clock()).reference is None


def test_a_refused_command_is_a_form_error_naming_rule_resource_and_instant(
    demo: Ledger, ops: Client
) -> None:
    head = demo.head()
    response = ops.post(
        f"{ADMIN}/contract/{LEASE}/command/allocate/",
        {
            "workload": "eval",
            "resource": "gpu.h100",
            "quantity": "10001",
            "effective_at": "2026-07-01 00:00",
            "reason": "backfill",
            "version": version(demo, LEASE),
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors == [
        "Refused by rule allocation_exceeds_contract: allocations of gpu.h100 would exceed "
        f"contract {LEASE} (resource gpu.h100); first breaks at 2026-07-01 00:00 UTC."
    ]
    assert demo.head() == head


def test_bad_input_is_a_field_error(demo: Ledger, ops: Client) -> None:
    response = ops.post(
        f"{ADMIN}/limitchange/add/",
        {"tenant": "anthropic", "plan": "p", "limit": "l", "operation": "set", "reason": ""},
    )
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    response = ops.post(
        f"{ADMIN}/contract/add/",
        {
            "provider": "spacex",
            "tenant": "anthropic",
            "facility": "colossus-1",
            "title_": "x",
            "term_start": "2029-01-01 00:00",
            "term_end": "2030-01-01 00:00",
            "capacity": "gpu.h100 lots gpu",
        },
    )
    assert "capacity" in response.context["form"].errors


def test_staff_see_and_submit_only_the_commands_they_hold(demo: Ledger) -> None:
    clerk = staff("run_allocation_commands", "view_contract")
    head = demo.head()
    page = clerk.get(f"{ADMIN}/contract/{LEASE}/change/").content.decode()
    assert "Allocate capacity" in page
    assert "Terminate the contract" not in page
    assert clerk.get(f"{ADMIN}/contract/{LEASE}/command/allocate/").status_code == 200
    assert clerk.get(f"{ADMIN}/contract/{LEASE}/command/terminate/").status_code == 403
    forbidden = clerk.post(
        f"{ADMIN}/contract/{LEASE}/command/terminate/",
        {"effective_at": "2027-01-01 00:00", "reason": "no", "version": version(demo, LEASE)},
    )
    assert forbidden.status_code == 403
    assert clerk.get(f"{ADMIN}/contract/add/").status_code == 403
    assert demo.head() == head
    resized = clerk.post(
        f"{ADMIN}/contract/{LEASE}/allocations/alc_training/resize/",
        {"quantity": "40000", "reason": "shrink training", "version": version(demo, LEASE)},
    )
    assert resized.status_code == 302
    assert last_event(demo).metadata_dict()["actor"] == "clerk"


def test_the_contract_page_shows_history_and_chart(demo: Ledger, ops: Client) -> None:
    page = ops.get(f"{ADMIN}/contract/{LEASE}/change/").content.decode()
    assert page.count('class="ledger-chart"') == 2  # gpu.h100 and power.mw
    assert 'class="allocated"' in page
    assert "correction: the api-opus ramp was 60k from 1 June" in page
    assert "ContractSigned" in page
    assert "countersigned on 6 May" in page


def test_the_tenant_page_travels_in_time(demo: Ledger, ops: Client) -> None:
    now = ops.get(f"{ADMIN}/party/anthropic/page/?as_of=2026-07-01").context["entitlements"]
    assert now.capacity[0].allocated == 210000
    before = demo.head().position - 1  # just before the backdated correction
    then = ops.get(f"{ADMIN}/party/anthropic/page/?as_of=2026-07-01&known_at={before}").context[
        "entitlements"
    ]
    assert then.capacity[0].allocated == 220000


@pytest.mark.parametrize("known_at", ["0", "1", "2020-01-01T00:00:00Z"])
def test_the_tenant_page_before_the_tenant_was_known_says_so(
    demo: Ledger, ops: Client, known_at: str
) -> None:
    """The party is there (it is now); at that known_at the ledger did not know it yet."""
    page = ops.get(f"{ADMIN}/party/anthropic/page/?known_at={known_at}")
    assert page.status_code == 200
    assert page.context["entitlements"] is None
    assert b'id="unknown-then"' in page.content
    assert b'name="known_at"' in page.content  # the way back to a point it knew


def test_the_facility_page_shows_utilisation_and_changes_capacity(
    demo: Ledger, ops: Client
) -> None:

    page = ops.get(f"{ADMIN}/facility/colossus-1/change/")
    assert page.status_code == 200
    assert [(r.resource, r.capacity, r.reserved) for r in page.context["facility"].resources] == [
        ("gpu.h100", 220000, 220000),
        ("power.mw", 300, 300),
    ]
    refused = ops.post(
        f"{ADMIN}/facility/colossus-1/capacity/",
        {"capacity": "gpu.h100 200000 gpu", "reason": "racks retired"},
    )
    assert "facility_overcommitted" in refused.context["form"].non_field_errors()[0]
    grown = ops.post(
        f"{ADMIN}/facility/colossus-1/capacity/",
        {"capacity": "gpu.h100 230000 gpu", "reason": "racks added"},
    )
    assert grown.status_code == 302
    assert last_event(demo).type == "FacilityCapacityChanged"


def test_pages_at_the_edges_of_time_and_bad_urls_never_fail(demo: Ledger, ops: Client) -> None:
    """A term ending in 9999, a tenant page far in the future or at a huge position, and
    ids that are not positions: each used to be a 500."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from ledger.domain import commands as c
    from ledger.domain.events import CapacityLine
    from ledger.service import Context, execute

    execute(
        demo,
        c.DraftContract(
            contract_id="ctr_long",
            provider="spacex",
            tenant="anthropic",
            facility="colossus-1",
            title="perpetual",
            term={  # type: ignore[arg-type]
                "start": datetime(1, 1, 2, tzinfo=UTC),
                "end": datetime(9999, 12, 30, tzinfo=UTC),
            },
            capacity=(CapacityLine(resource="gpu.h100", quantity=Decimal(1), unit="gpu"),),
        ),
        Context(actor="ops", source="cli"),
    )
    assert ops.get(f"{ADMIN}/contract/ctr_long/change/").status_code == 200
    for query in (
        "as_of=9999-01-01",
        "as_of=0001-01-02",
        "known_at=99999999999999999999999",
        "known_at=\u00b2",
    ):
        assert ops.get(f"{ADMIN}/party/anthropic/page/?{query}").status_code == 200, query
    for kind in ("party", "facility", "allocation"):
        for object_id in ("abc", "1" * 40, "\u00b2", "\u0661"):  # superscript 2, Arabic-Indic 1
            assert ops.get(f"{ADMIN}/{kind}/{object_id}/change/").status_code == 404
    # Past the end of time is refused, as the API refuses it: not today's answer.
    late = ops.get(f"{ADMIN}/party/anthropic/page/?as_of=9999-12-31T12:00:00Z")
    assert late.context["entitlements"] is None
    assert "instants must be before 9999-12-31" in late.content.decode()


def test_registering_a_facility_in_the_admin_with_its_in_service_date_needs_no_reason(
    demo: Ledger, ops: Client
) -> None:
    response = ops.post(
        f"{ADMIN}/facility/add/",
        {
            "facility_id": "colossus-2",
            "provider": "spacex",
            "name": "Colossus 2",
            "location": "Memphis, Tennessee",
            "capacity": "gpu.gb200 550000 gpu",
            "effective_at": "2025-09-01 00:00",
            "reason": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = last_event(demo)
    assert (event.type, event.effective_at.isoformat()) == (
        "FacilityRegistered",
        "2025-09-01T00:00:00+00:00",
    )
    assert event.metadata_dict() == {"actor": "ops", "source": "admin"}


def test_registering_a_party_in_the_admin_records_its_date_and_reason(
    demo: Ledger, ops: Client
) -> None:
    response = ops.post(
        f"{ADMIN}/party/add/",
        {
            "party_id": "acme-ai",
            "name": "Acme AI",
            "roles": ["tenant"],
            "effective_at": "2024-03-01 00:00",
            "reason": "migrated from the old system",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = last_event(demo)
    assert (event.type, event.effective_at.isoformat()) == (
        "PartyRegistered",
        "2024-03-01T00:00:00+00:00",
    )
    assert event.metadata_dict()["reason"] == "migrated from the old system"


def test_the_contract_page_reads_the_contract_once(demo: Ledger, ops: Client) -> None:
    with recorded_statements(demo.engine) as statements:
        page = ops.get(f"{ADMIN}/contract/{LEASE}/change/")
    assert page.status_code == 200
    contract_reads = [s for s in statements if re.search(r"FROM ledger_contracts_\w+", s)]
    assert len(contract_reads) == 1, contract_reads
    assert page.context["contract"].id == LEASE


def test_the_status_filter_agrees_with_every_contract_page(demo: Ledger, ops: Client) -> None:
    """One contract in each status: the filter lists exactly those the pages call so."""
    from decimal import Decimal

    from ledger.domain import commands as c
    from ledger.domain.events import CapacityLine
    from ledger.service import Accepted, Context, execute

    ctx = Context(actor="ops", source="cli")
    terms = {
        "ctr_later": (datetime(2027, 6, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)),
        "ctr_over": (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        "ctr_ended": (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        "ctr_void": (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    }
    registered = execute(
        demo,
        c.RegisterFacility(
            facility_id="statuses-1",
            provider="spacex",
            name="Statuses",
            location="Nowhere",
            capacity=(CapacityLine(resource="gpu.h100", quantity=Decimal(10), unit="gpu"),),
            effective_at=datetime(2025, 1, 1, tzinfo=UTC),
            reason="in service long before",
        ),
        ctx,
    )
    assert isinstance(registered, Accepted), registered
    for contract_id, (start, end) in terms.items():
        drafted = execute(
            demo,
            c.DraftContract(
                contract_id=contract_id,
                provider="spacex",
                tenant="anthropic",
                facility="statuses-1",
                title=contract_id,
                term={"start": start, "end": end},  # type: ignore[arg-type]
                capacity=(CapacityLine(resource="gpu.h100", quantity=Decimal(1), unit="gpu"),),
            ),
            ctx,
        )
        assert isinstance(drafted, Accepted), drafted
    for command in (
        c.VoidContract(contract_id="ctr_void", reason="never signed"),
        c.SignContract(contract_id="ctr_later", signed_by=("ops",)),
        c.SignContract(contract_id="ctr_over", signed_by=("ops",)),
        c.SignContract(contract_id="ctr_ended", signed_by=("ops",)),
        c.TerminateContract(
            contract_id="ctr_ended",
            effective_at=datetime(2026, 12, 5, tzinfo=UTC),
            reason="the tenant moved out",
        ),
    ):
        assert isinstance(execute(demo, command, ctx), Accepted), command
    demo.clock = lambda: datetime(2026, 12, 6, tzinfo=UTC)  # type: ignore[method-assign]
    with demo.read() as conn:
        everyone = [v.id for v in read.contracts(conn, datetime(2026, 12, 6, tzinfo=UTC))]
        status = {
            i: read.contract(conn, i, datetime(2026, 12, 6, tzinfo=UTC)).status for i in everyone
        }
    assert set(status.values()) == {"draft", "voided", "signed", "active", "expired", "terminated"}
    for wanted in sorted(set(status.values())):
        listed = ops.get(f"{ADMIN}/contract/?status={wanted}").context["cl"].result_list
        assert sorted(row.contract_id for row in listed) == sorted(
            i for i, s in status.items() if s == wanted
        ), wanted


def test_the_directory_lists_are_projection_rows_of_decoded_events(
    demo: Ledger, ops: Client
) -> None:
    """Parties, facilities and allocations are listed from their projection rows (no raw
    payload read), and their pages are named by their ids."""
    parties = ops.get(f"{ADMIN}/party/").context["cl"].result_list
    assert [(p.party_id, p.name, p.roles) for p in parties] == [
        ("anthropic", "Anthropic", "tenant"),
        ("spacex", "SpaceX", "provider"),
    ]
    facilities = ops.get(f"{ADMIN}/facility/").context["cl"].result_list
    assert [(f.facility_id, f.provider, f.location) for f in facilities] == [
        ("colossus-1", "spacex", "Memphis, Tennessee"),
        ("orbital-1", "spacex", "Low Earth orbit"),
    ]
    listed = ops.get(f"{ADMIN}/allocation/?tenant=anthropic").context["cl"].result_list
    with demo.read() as conn:
        lease = read.contract(conn, LEASE, datetime(2026, 7, 1, tzinfo=UTC))
    assert sorted((a.allocation_id, a.workload, a.resource) for a in listed) == sorted(
        (a.allocation_id, a.workload, a.resource) for a in lease.allocations
    )
    resized = next(a for a in listed if a.allocation_id == "alc_api-opus")
    assert resized.first_quantity == "70000"  # as first allocated; the correction came later
    assert list(ops.get(f"{ADMIN}/allocation/?tenant=nobody").context["cl"].result_list) == []
    for url, target in (
        (f"{ADMIN}/party/anthropic/change/", f"{ADMIN}/party/anthropic/page/"),
        (f"{ADMIN}/allocation/{LEASE}_2Falc_api-opus/change/", f"{ADMIN}/contract/{LEASE}/change/"),
    ):
        response = ops.get(url)
        assert (response.status_code, response["Location"]) == (302, target), url
    assert ops.get(f"{ADMIN}/facility/colossus-1/change/").status_code == 200


def test_a_rebuild_reproduces_the_directory_rows(demo: Ledger, ops: Client) -> None:
    from ledger.projections.rebuild import check, rebuild

    before = [
        (p.party_id, p.name, p.roles, p.position)
        for p in ops.get(f"{ADMIN}/party/").context["cl"].result_list
    ]
    allocations = ops.get(f"{ADMIN}/allocation/").context["cl"].result_count
    rebuild(demo)
    assert check(demo).ok
    after = [
        (p.party_id, p.name, p.roles, p.position)
        for p in ops.get(f"{ADMIN}/party/").context["cl"].result_list
    ]
    assert after == before
    assert ops.get(f"{ADMIN}/allocation/").context["cl"].result_count == allocations > 0


def test_an_empty_until_is_said_to_mean_no_end(demo: Ledger, ops: Client) -> None:
    """An empty `effective_at` is now; an empty `until` is no end, and the forms say so."""
    from contracts import admin_forms as forms

    for form in (forms.ChangeLimitForm(), forms.AllocateCapacityForm()):
        assert form.fields["until"].help_text.endswith("empty means no end")
        assert form.fields["effective_at"].help_text.endswith("empty means now")
    page = ops.get(f"{ADMIN}/limitchange/add/").content.decode()
    assert "empty means no end" in page


def test_the_contract_page_lists_allocations_in_force_scheduled_and_ended(
    demo: Ledger, ops: Client
) -> None:
    """Today's allocations add up to what the tenant page says is allocated; one that
    begins later and one that ended are listed apart, and the ended one has no actions."""
    from decimal import Decimal

    from ledger.domain import commands as c
    from ledger.service import Accepted, Context, execute

    ctx = Context(actor="ops", source="cli")
    later = c.AllocateCapacity(
        contract_id=LEASE,
        allocation_id="alc_later",
        workload="later",
        resource="power.mw",
        quantity=Decimal(1),
        effective_at=datetime(2027, 3, 1, tzinfo=UTC),
    )
    assert isinstance(execute(demo, later, ctx), Accepted)
    released = c.ReleaseAllocation(
        contract_id=LEASE,
        allocation_id="alc_api-opus",
        effective_at=datetime(2026, 12, 1, tzinfo=UTC),
        reason="moved to another lease",
    )
    assert isinstance(execute(demo, released, ctx), Accepted)

    page = ops.get(f"{ADMIN}/contract/{LEASE}/change/")
    shown = page.context["contract"]
    assert [a.allocation_id for a in shown.scheduled] == ["alc_later"]
    assert [a.allocation_id for a in shown.ended] == ["alc_api-opus"]
    assert shown.ended[0].quantity == 60_000  # what it ended with, not 0
    in_force = {a.allocation_id for a in shown.allocations}
    assert "alc_later" not in in_force
    assert "alc_api-opus" not in in_force
    with demo.read() as conn:
        tenant = read.entitlements(conn, "anthropic", demo.clock())
    for line in tenant.capacity:
        listed = sum(a.quantity for a in shown.allocations if a.resource == line.resource)
        assert listed == line.allocated, line.resource
    body = page.content.decode()
    ended_table = body.split('id="ended-allocations"', 1)[1].split("</table>", 1)[0]
    assert "alc_api-opus" in ended_table
    assert "/resize/" not in ended_table
    assert "/release/" not in ended_table
    scheduled_table = body.split('id="scheduled-allocations"', 1)[1].split("</table>", 1)[0]
    assert "alc_later/resize/" in scheduled_table
