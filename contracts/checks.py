"""System checks of this deployment, run by `manage.py check` (`--deploy` for these)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from contracts.runtime import signing_key_status


@register(Tags.security, deploy=True)
def signing_key_configured(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    status = signing_key_status()
    if status == "ok":
        return []
    where = (
        "LEDGER_SIGNING_KEY" if settings.LEDGER_SIGNING_KEY else settings.LEDGER_SIGNING_KEY_FILE
    )
    return [
        Warning(
            f"the manifest signing key is {status} ({where}): /audit/public-key and export"
            " manifests will answer 503",
            hint="run `python manage.py create_signing_key --output FILE` and set"
            " LEDGER_SIGNING_KEY_FILE=FILE (or LEDGER_SIGNING_KEY to the PEM text)",
            id="contracts.W001",
        )
    ]
