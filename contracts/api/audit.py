"""Audit: signed exports (the same bytes as `manage.py export_audit`), the public key that
signs their manifests, and a check of the whole chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Query, Router

from contracts.api.auth import narrowed_tenant, require, require_unbound
from contracts.api.common import ERRORS
from contracts.api.schemas import ExportQuery, VerifyOut
from contracts.runtime import get_ledger, get_signer
from ledger.apikeys import ApiKey
from ledger.export import ExportFilter, Format, build_manifest, export_chunks, resolve

router = Router(tags=["audit"])

SCOPE = "audit:export"
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
FILE_RESPONSE = {
    "description": "the export file, streamed",
    "headers": {"X-Ledger-Up-To": {"schema": {"type": "integer"}}},
    "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


def _filter(key: ApiKey, query: ExportQuery) -> ExportFilter:
    tenant = narrowed_tenant(key, query.tenant, "tenant")
    return ExportFilter(tenant=tenant, start=query.from_, end=query.to, up_to=query.up_to)


@router.get("/audit/export", response=ERRORS, openapi_extra={"responses": {"200": FILE_RESPONSE}})
def export(request: HttpRequest, query: Query[ExportQuery]) -> StreamingHttpResponse:
    """The events as JSONL (canonical envelopes) or CSV, streamed; pass the X-Ledger-Up-To
    it answers with to /audit/export/manifest to get the manifest of these very bytes."""
    key = require(request, SCOPE)
    wanted = _filter(key, query)
    fmt: Format = query.format
    with get_ledger().read() as conn:
        wanted = resolve(conn, wanted)

    def stream() -> Iterator[bytes]:
        with get_ledger().read(snapshot=True) as conn:
            yield from export_chunks(conn, wanted, fmt)

    response = StreamingHttpResponse(stream(), content_type=MEDIA_TYPES[fmt])
    response["X-Ledger-Up-To"] = str(wanted.up_to)
    response["Content-Disposition"] = f'attachment; filename="ledger-export-{wanted.up_to}.{fmt}"'
    return response


@router.get("/audit/export/manifest", response={200: dict[str, Any], **ERRORS})
def export_manifest(request: HttpRequest, query: Query[ExportQuery]) -> dict[str, Any]:
    """The signed manifest of the export with the same filters and up_to."""
    key = require(request, SCOPE)
    signer = get_signer()
    with get_ledger().read(snapshot=True) as conn:
        wanted = resolve(conn, _filter(key, query))
        return build_manifest(conn, wanted, query.format, signer)


@router.get(
    "/audit/public-key",
    auth=None,
    response=ERRORS,
    openapi_extra={
        "responses": {
            "200": {
                "description": "PEM",
                "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
            }
        }
    },
)
def public_key(request: HttpRequest) -> HttpResponse:
    """The Ed25519 public key (PEM) that signs export manifests; public, no key needed."""
    pem = get_signer().public_pem()
    return HttpResponse(pem, content_type="application/x-pem-file")


@router.get("/audit/verify", response={200: VerifyOut, **ERRORS})
def verify(request: HttpRequest) -> VerifyOut:
    """Recompute the whole hash chain now (it reads every event: not for every minute)."""
    key = require(request, SCOPE)
    require_unbound(key, "verify the whole ledger")
    result = get_ledger().verify()
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        head_position=result.head_position,
        head_hash=result.head_hash,
        first_bad_position=result.first_bad_position,
    )
