"""The service's URLs plus the baseline: a bare django-ninja endpoint doing one indexed
SELECT (an event by position) on the same engine and pool, with no auth and no domain. It
reads the way the API's reads do (`Ledger.read(transaction=False)`: on PostgreSQL, no BEGIN
and ROLLBACK around its one statement), so that the baseline is as lean as the service."""

from typing import Any

from django.urls import path
from ninja import NinjaAPI
from sqlalchemy import select

from contracts.runtime import get_ledger
from contracts.urls import urlpatterns as service
from ledger.tables import events

bare = NinjaAPI(urls_namespace="bench", docs_url=None, openapi_url=None)


@bare.get("/events/{position}")
def event(request: Any, position: int) -> dict[str, Any]:
    with get_ledger().read(transaction=False) as conn:
        row = conn.execute(
            select(events.c.position, events.c.stream_id, events.c.type, events.c.hash).where(
                events.c.position == position
            )
        ).one()
    return dict(row._mapping)


urlpatterns = [*service, path("bench/", bare.urls)]
