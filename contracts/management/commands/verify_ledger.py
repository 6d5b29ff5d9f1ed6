"""`verify_ledger`: recompute the hash chain; exit 1 on the first bad position."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from contracts.progress import progress_bar
from contracts.runtime import get_ledger


class Command(BaseCommand):
    help = "Verifies the ledger's hash chain, event by event, against its head row."

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        with progress_bar("verifying", ledger.head().position, options["verbosity"]) as advance:
            result = ledger.verify(on_progress=advance)
        if not result.ok:
            raise CommandError(result.summary(), returncode=1)
        self.stdout.write(result.summary())
