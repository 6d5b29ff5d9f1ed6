"""Outside the API (the admin): a busy or unreachable database is a 503 page, not a 500."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ledger.errors import DatabaseUnavailable, LedgerBusy, ProjectionsStale


class ServiceUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, LedgerBusy | DatabaseUnavailable | ProjectionsStale):
            return None
        response = HttpResponse(
            f"Service unavailable: {exc}. Nothing was written; try again in a moment.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "1"
        return response
