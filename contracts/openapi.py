"""The OpenAPI document as the API serves it, and its committed copy (docs/openapi.json).

The copy makes every change of the published contract a reviewed diff: a test holds the
served document to it, and `make openapi` rewrites it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import rfc8785
from django.conf import settings
from django.test import Client

COMMITTED = Path(settings.BASE_DIR) / "docs" / "openapi.json"
SERVED_AT = "/api/v1/openapi.json"


def served() -> dict[str, Any]:
    """The document exactly as `GET /api/v1/openapi.json` answers it (no database needed)."""
    response = Client(HTTP_HOST="localhost").get(SERVED_AT)
    if response.status_code != 200:
        raise RuntimeError(f"{SERVED_AT} answered {response.status_code}")
    document: dict[str, Any] = json.loads(response.content)
    return document


def render(document: dict[str, Any]) -> str:
    """Readable and stable: sorted keys, two-space indent, one final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def canonical(document: Any) -> bytes:
    """RFC 8785 bytes: equal for two documents exactly when their JSON data is equal."""
    return bytes(rfc8785.dumps(document))
