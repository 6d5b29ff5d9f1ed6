from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from ninja import Router
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from contracts.api.errors import problem
from contracts.api.schemas import HealthOut, UnhealthyOut
from contracts.runtime import get_ledger, signing_key_status
from ledger.errors import DatabaseUnavailable, LedgerBusy, ProjectionsStale
from ledger.tables import PROJECTIONS_INCOMPLETE, projection_state

router = Router(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/health", auth=None, response={200: HealthOut, 503: UnhealthyOut})
def health(request: HttpRequest) -> HttpResponse | HealthOut:
    """Liveness and the ledger's head: no key needed. A missing manifest signing key does
    not make the service unhealthy (everything but signed exports works): `signing_key`
    says so, for monitoring to alert on."""
    ledger = get_ledger()
    try:
        head = ledger.head()
        with ledger.read(transaction=False) as conn:
            built = conn.execute(select(projection_state.c.format)).scalar_one()
    except (SQLAlchemyError, LedgerBusy, DatabaseUnavailable):
        logger.exception("health check: the database does not answer")
        return problem(
            503,
            "the ledger's database does not answer",
            kind="unhealthy",
            headers={"Retry-After": "1"},
            database="error",
        )
    if built == PROJECTIONS_INCOMPLETE:
        return problem(
            503,
            ProjectionsStale().args[0],
            kind="projections-stale",
            headers={"Retry-After": "30"},
            database="ok",
        )
    return HealthOut(
        status="ok",
        database="ok",
        head_position=head.position,
        signing_key=signing_key_status(),
    )
