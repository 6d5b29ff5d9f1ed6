"""Who is who: parties, closed periods, and which tenant owns a contract or a stream.

Parties are read from their registration events (a party stream's first event never
changes), closed periods from the last period event of the party's stream, and contract
ownership from the active contract projection: each lookup is one index probe. Payloads
are decoded through the registry (`ledger.read.payloads`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from ledger.domain import contract as contracts_domain
from ledger.domain import facility as facilities_domain
from ledger.domain import party as parties_domain
from ledger.domain.events import FacilityRegistered, PartyRegistered
from ledger.errors import NotFound
from ledger.events import Event
from ledger.read.known_at import snapshot
from ledger.read.payloads import PAYLOAD_COLUMNS, decoded, opening
from ledger.read.views import View
from ledger.tables import KNOWN_FOREVER, events

PARTY_PREFIX = parties_domain.stream_id("")
# Every stream id starting with "party-" sorts below "party." ('-' is 0x2d, '.' is 0x2e).
_PARTY_UPPER = PARTY_PREFIX[:-1] + "."


class PartyView(View):
    id: str
    name: str
    roles: list[str]


def _party_view(registered: PartyRegistered) -> PartyView:
    return PartyView(id=registered.party_id, name=registered.name, roles=list(registered.roles))


def party(conn: Connection, party_id: str) -> PartyView:
    registered = opening(conn, parties_domain.stream_id(party_id), PartyRegistered)
    if registered is None:
        raise NotFound("party", party_id)
    return _party_view(registered)


def parties(
    conn: Connection, *, after: str | None = None, limit: int = 100, only: str | None = None
) -> list[PartyView]:
    """Parties ordered by id, starting after `after`; `only` restricts to one party."""
    query = select(*PAYLOAD_COLUMNS).where(
        events.c.stream_version == 1,
        events.c.stream_id > PARTY_PREFIX + (after or ""),
        events.c.stream_id < _PARTY_UPPER,
    )
    if only is not None:
        query = query.where(events.c.stream_id == parties_domain.stream_id(only))
    rows = conn.execute(query.order_by(events.c.stream_id).limit(limit))
    return [_party_view(decoded(*row, as_type=PartyRegistered)) for row in rows]


def closed_through(conn: Connection, tenant: str) -> datetime | None:
    """Through when `tenant`'s books are closed (None if never closed)."""
    stream = parties_domain.stream_id(tenant)
    party(conn, tenant)
    row = conn.execute(
        select(*PAYLOAD_COLUMNS)
        .where(events.c.stream_id == stream, events.c.type.in_(parties_domain.PERIOD_EVENTS))
        .order_by(events.c.stream_version.desc())
        .limit(1)
    ).one_or_none()
    latest = None if row is None else decoded(*row, as_type=Event)
    return parties_domain.books_closed_through(latest)


def contract_tenant(conn: Connection, contract_id: str) -> str | None:
    """The tenant a contract currently names, or None if there is no such contract."""
    return _current_contract_column(conn, contract_id, "tenant")


def contract_facility(conn: Connection, contract_id: str) -> str | None:
    """The facility a contract currently names, or None if there is no such contract."""
    return _current_contract_column(conn, contract_id, "facility")


def _current_contract_column(conn: Connection, contract_id: str, column: str) -> str | None:
    contracts = snapshot(conn).tables.contracts
    found: str | None = conn.execute(
        select(contracts.c[column]).where(
            contracts.c.contract_id == contract_id, contracts.c.known_to == KNOWN_FOREVER
        )
    ).scalar()
    return found


def facility_provider(conn: Connection, facility_id: str) -> str | None:
    """The provider a facility was registered to (it never changes), or None."""
    registered = opening(conn, facilities_domain.stream_id(facility_id), FacilityRegistered)
    return None if registered is None else registered.provider


def stream_tenant(conn: Connection, stream_id: str) -> str | None:
    """The tenant whose data a stream holds (None for facilities: they are the provider's)."""
    if stream_id.startswith(PARTY_PREFIX):
        return stream_id.removeprefix(PARTY_PREFIX)
    contract_prefix = contracts_domain.stream_id("")
    if stream_id.startswith(contract_prefix):
        return contract_tenant(conn, stream_id.removeprefix(contract_prefix))
    return None
