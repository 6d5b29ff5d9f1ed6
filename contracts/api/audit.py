from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from contracts.api.auth import require, require_unbound
from contracts.api.common import ERRORS
from contracts.api.schemas import VerifyOut
from contracts.runtime import get_ledger

router = Router(tags=["audit"])


@router.get("/audit/verify", response={200: VerifyOut, **ERRORS})
def verify(request: HttpRequest) -> VerifyOut:
    """Recompute the whole hash chain now (it reads every event: not for every minute)."""
    key = require(request, "audit:export")
    require_unbound(key, "verify the whole ledger")
    result = get_ledger().verify()
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        head_position=result.head_position,
        head_hash=result.head_hash,
        first_bad_position=result.first_bad_position,
    )
