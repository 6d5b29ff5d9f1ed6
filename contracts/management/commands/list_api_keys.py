"""`list_api_keys`: every key, live or revoked (never the secrets: they are not stored)."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from contracts.runtime import get_ledger
from ledger import apikeys
from ledger.canonical import format_timestamp


class Command(BaseCommand):
    help = "Lists API keys: id, name, scopes, tenant, created, revoked."

    def handle(self, *args: Any, **options: Any) -> None:
        with get_ledger().read() as conn:
            keys = apikeys.list_keys(conn)
        table = Table("key id", "name", "scopes", "tenant", "created", "revoked")
        for key in keys:
            table.add_row(
                key.key_id,
                key.name,
                " ".join(sorted(key.scopes)),
                key.tenant or "(any)",
                format_timestamp(key.created_at),
                format_timestamp(key.revoked_at) if key.revoked_at else "",
            )
        # OutputWrapper is a text stream in all but its declared type.
        Console(file=cast(TextIO, self.stdout), width=160).print(table)
