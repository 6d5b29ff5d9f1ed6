"""`migrate` brings Django's tables and the alembic-managed ledger schema up to date."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate

from contracts.schema import upgrade_ledger_schema


class Command(DjangoMigrate):
    help = "Updates Django's built-in apps and the ledger's schema (alembic) to head."

    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **options)
        if options.get("app_label") or options.get("plan") or options.get("check_unapplied"):
            return
        rebuilt = upgrade_ledger_schema(options["database"])
        if options["verbosity"] >= 1:
            self.stdout.write("Ledger schema (alembic): at head.")
            if rebuilt:
                self.stdout.write("Ledger projections rebuilt for the new schema.")
