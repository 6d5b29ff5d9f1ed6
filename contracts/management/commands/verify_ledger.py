"""`verify_ledger`: recompute the hash chain; exit 1 on the first bad position."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from contracts.runtime import get_ledger


class Command(BaseCommand):
    help = "Verifies the ledger's hash chain, event by event, against its head row."

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        total = ledger.head().position
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
            disable=total < 10_000 or options["verbosity"] == 0,
        ) as progress:
            task = progress.add_task("verify", total=total)
            result = ledger.verify(on_progress=lambda done: progress.update(task, completed=done))
        if not result.ok:
            raise CommandError(result.summary(), returncode=1)
        self.stdout.write(result.summary())
