"""REST API v1 (docs/api.md): one router per resource, every error as problem+json."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI

from contracts.api import audit, contracts, errors, events, facilities, health, parties, tenants
from contracts.api.auth import ApiKeyAuth
from contracts.api.errors import PROBLEM
from contracts.api.rendering import LedgerRenderer


class LedgerAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """What ninja cannot declare by itself: error responses are problem+json, and the
        headers of docs/api.md's conventions, which the views read and set themselves."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        response["content"] = {PROBLEM: content["application/json"]}
                    if int(status) in (429, 503):
                        response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
                _declare_headers(path.removeprefix(BASE_PATH), method, operation)
        return schema


BASE_PATH = "/api/v1"
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A repeat with the same key and body returns the first response and"
    " appends nothing; the same key with another body answers 422. Kept 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The contract version this write expects, as its ETag ("3", or weak'
    ' W/"3"), or * for any: 412 if the contract moved on (or the version is beyond any'
    " a contract can reach); 422 if it is no version ETag.",
    "schema": {"type": "string", "pattern": r'^(\*|(W/)?"[0-9]+"|[0-9]+)$'},
}
ETAG = {
    "description": 'The contract\'s version, "<stream_version>" (not on a dry run)',
    "schema": {"type": "string"},
}
REPLAYED = {
    "description": "true when this is the stored first response to the same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}


def _declare_headers(path: str, method: str, operation: dict[str, Any]) -> None:
    success = [
        response
        for status, response in operation.get("responses", {}).items()
        if 200 <= int(status) < 300
    ]
    on_a_contract = path == "/contracts" or path.startswith("/contracts/{contract_id}")
    if method == "post":
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        if path.startswith("/contracts/{contract_id}/"):
            operation["parameters"].append(IF_MATCH)
        for response in success:
            response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED
    if on_a_contract and (method == "post" or path == "/contracts/{contract_id}"):
        for response in success:
            response.setdefault("headers", {})["ETag"] = ETAG


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
