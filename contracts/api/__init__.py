"""REST API v1 (shared/API.md): one router per resource, every error as problem+json."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI

from contracts.api import audit, contracts, errors, events, facilities, health, parties, tenants
from contracts.api.auth import ApiKeyAuth
from contracts.api.common import ERROR_STATUSES
from contracts.api.errors import PROBLEM
from contracts.api.rendering import LedgerRenderer


class LedgerAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Error responses are problem+json, which ninja cannot declare by itself."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) in ERROR_STATUSES and "application/json" in content:
                        response["content"] = {PROBLEM: content["application/json"]}
        return schema


def build_api() -> NinjaAPI:
    api = LedgerAPI(
        title="Capacity-contract ledger",
        version="1",
        description="Entitlements, contracts and the event feed for billing systems.",
        urls_namespace="api-v1",
        auth=ApiKeyAuth(),
        renderer=LedgerRenderer(),
    )
    errors.install(api)
    for module in (health, parties, facilities, contracts, tenants, events, audit):
        api.add_router("", module.router)
    return api


api = build_api()
