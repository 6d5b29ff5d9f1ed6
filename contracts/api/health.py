from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from ninja import Router
from sqlalchemy.exc import SQLAlchemyError

from contracts.api.errors import problem
from contracts.api.schemas import HealthOut, UnhealthyOut
from contracts.runtime import get_ledger, signing_key_status
from ledger import read
from ledger.errors import DatabaseUnavailable, LedgerBusy, ProjectionsStale

router = Router(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/health", auth=None, response={200: HealthOut, 503: UnhealthyOut})
def health(request: HttpRequest) -> HttpResponse | HealthOut:
    """Liveness and the ledger's head: no key needed. A missing manifest signing key does
    not make the service unhealthy (everything but signed exports works): `signing_key`
    says so, for monitoring to alert on."""
    try:
        with get_ledger().read(transaction=False) as conn:
            head_position = read.snapshot(conn).head_position  # one statement
    except ProjectionsStale as stale:
        return problem(
            503,
            str(stale),
            kind="projections-stale",
            headers={"Retry-After": "30"},
            database="ok",
        )
    except (SQLAlchemyError, LedgerBusy, DatabaseUnavailable):
        logger.exception("health check: the database does not answer")
        return problem(
            503,
            "the ledger's database does not answer",
            kind="unhealthy",
            headers={"Retry-After": "1"},
            database="error",
        )
    return HealthOut(
        status="ok",
        database="ok",
        head_position=head_position,
        signing_key=signing_key_status(),
    )
