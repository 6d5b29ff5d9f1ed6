"""Events written by an older schema read as their current model everywhere: the store
keeps them as written, and every reader decodes them through the registry's upcasters
(tests/old_schemas.py; CI also runs the API and admin tests against such a ledger)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import select

from contracts.models import Facility, Party
from ledger import read
from ledger.domain import commands as c
from ledger.domain.events import CapacityLine
from ledger.projections.rebuild import rebuild
from ledger.read import directory
from ledger.service import Context, execute
from ledger.tables import events
from ledger.unit_of_work import Ledger
from tests import old_schemas

OPS = Context(actor="ops@example.com", source="admin")
IN_SERVICE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def old_ledger(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    old_schemas.install(monkeypatch.setattr)
    for command in (
        c.RegisterParty(party_id="spacex", name="SpaceX", roles=("provider",)),
        c.RegisterParty(party_id="anthropic", name="Anthropic", roles=("tenant",)),
        c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis, Tennessee",
            capacity=(CapacityLine(resource="gpu.h100", quantity=Decimal(1000), unit="gpu"),),
            effective_at=IN_SERVICE,
            reason="in service since the start of 2026",
        ),
    ):
        execute(ledger, command, OPS)
    return ledger


def _stored(ledger: Ledger, stream_id: str) -> tuple[int, dict[str, object]]:
    with ledger.read() as conn:
        version, payload = conn.execute(
            select(events.c.schema_version, events.c.payload).where(
                events.c.stream_id == stream_id, events.c.stream_version == 1
            )
        ).one()
    return version, orjson.loads(payload)


def test_the_harness_stores_version_1_in_a_shape_raw_readers_cannot_read(
    old_ledger: Ledger,
) -> None:
    version, payload = _stored(old_ledger, "party-anthropic")
    assert version == 1
    assert "name" not in payload
    assert payload[old_schemas.OLD_KEY] == {
        "party_id": "anthropic",
        "name": "Anthropic",
        "roles": ["tenant"],
    }


def test_the_read_side_decodes_old_registrations(old_ledger: Ledger) -> None:
    with old_ledger.read() as conn:
        assert directory.party(conn, "anthropic").name == "Anthropic"
        assert [p.id for p in directory.parties(conn)] == ["anthropic", "spacex"]
        assert directory.facility_provider(conn, "colossus-1") == "spacex"
        snap = read.tenant_snapshot(conn, "anthropic")
        assert snap.registered_at == 2
        facility = read.facility(conn, "colossus-1", IN_SERVICE)
    assert (facility.provider, facility.name, facility.location) == (
        "spacex",
        "Colossus 1",
        "Memphis, Tennessee",
    )


@pytest.mark.django_db(transaction=True)
def test_the_admin_lists_show_old_registrations(old_ledger: Ledger) -> None:
    """The admin's lists read projection rows the projector wrote from decoded events
    (rebuilt here, so that every row comes from a stored, older payload)."""
    rebuild(old_ledger)
    party = Party.objects.get(party_id="anthropic")
    facility = Facility.objects.get(facility_id="colossus-1")
    assert (party.name, party.roles) == ("Anthropic", "tenant")
    assert (facility.provider, facility.location) == ("spacex", "Memphis, Tennessee")
