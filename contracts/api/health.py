from __future__ import annotations

import logging

from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status
from sqlalchemy.exc import SQLAlchemyError

from contracts.api.schemas import HealthOut
from contracts.runtime import get_ledger

router = Router(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/health", auth=None, response={200: HealthOut, 503: HealthOut})
def health(request: HttpRequest) -> Status[HealthOut]:
    """Liveness and the ledger's head: no key needed."""
    try:
        head = get_ledger().head()
    except SQLAlchemyError:
        logger.exception("health check: the database does not answer")
        return Status(503, HealthOut(status="error", database="error", head_position=None))
    return Status(200, HealthOut(status="ok", database="ok", head_position=head.position))
