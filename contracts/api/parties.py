from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from sqlalchemy import Connection

from contracts.api import writes
from contracts.api.auth import require, require_tenant, require_unbound
from contracts.api.common import ERRORS, decode_cursor, encode_cursor, reading
from contracts.api.schemas import Page, PartyDryRun, PartyIn, PartyPage, PartyWriteOut
from ledger.domain import commands as c
from ledger.read import directory
from ledger.read.directory import PartyView
from ledger.service import Accepted

router = Router(tags=["parties"])


@router.post("/parties", response={201: PartyWriteOut | PartyDryRun, **ERRORS})
def register_party(request: HttpRequest, body: PartyIn, dry_run: bool = False) -> HttpResponse:
    key = require(request, "contracts:write")
    require_unbound(key, "register parties")

    def render(conn: Connection, outcome: Accepted) -> PartyWriteOut:
        party = directory.party(conn, body.id)
        return PartyWriteOut(**party.model_dump(), position=outcome.position)

    command = c.RegisterParty(
        party_id=body.id,
        name=body.name,
        roles=tuple(body.roles),
        effective_at=body.effective_at,
        reason=body.reason,
    )
    return writes.run(request, key, command, render, dry_run=dry_run)


@router.get("/parties", response={200: PartyPage, **ERRORS})
def list_parties(request: HttpRequest, page: Query[Page]) -> PartyPage:
    key = require(request, "contracts:read")
    with reading() as conn:
        items = directory.parties(
            conn, after=decode_cursor(page.cursor), limit=page.limit + 1, only=key.tenant
        )
    more = len(items) > page.limit
    items = items[: page.limit]
    return PartyPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/parties/{party_id}", response={200: PartyView, **ERRORS})
def get_party(request: HttpRequest, party_id: str) -> PartyView:
    key = require(request, "contracts:read")
    require_tenant(key, party_id, "party", party_id)
    with reading() as conn:
        return directory.party(conn, party_id)
