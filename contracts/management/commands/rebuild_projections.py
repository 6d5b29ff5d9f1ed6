"""`rebuild_projections`: rebuild the read tables from the events, then swap them in."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from contracts.progress import progress_bar
from contracts.runtime import get_ledger
from ledger.projections.rebuild import rebuild


class Command(BaseCommand):
    help = "Rebuilds the projections into the inactive table set and swaps it in (no downtime)."

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        with progress_bar("rebuilding", ledger.head().position, options["verbosity"]) as advance:
            report = rebuild(ledger, on_progress=advance)
        self.stdout.write(
            f"rebuilt {report.events} events into set {report.active!r}: "
            f"{report.timeline_rows} timeline rows, {report.contract_rows} contract rows"
        )
