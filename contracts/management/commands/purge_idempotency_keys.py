"""`purge_idempotency_keys`: forget idempotency records older than --keep-hours (>= 24)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contracts.runtime import get_ledger
from ledger import idempotency
from ledger.errors import InvalidInput


class Command(BaseCommand):
    help = "Deletes idempotency records past their retention (run it daily, e.g. from cron)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep-hours", type=int, default=24, help="at least 24")

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        try:
            with ledger.write() as uow:
                removed = idempotency.purge(
                    uow.conn, ledger.clock(), timedelta(hours=options["keep_hours"])
                )
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"purged {removed} idempotency record(s)")
