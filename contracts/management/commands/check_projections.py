"""`check_projections`: replay the events in memory and diff against the read tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from contracts.progress import progress_bar
from contracts.runtime import get_ledger
from ledger.projections.rebuild import check


class Command(BaseCommand):
    help = "Replays the events in memory and diffs the projection tables (exit 1 on a difference)."

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        with progress_bar("checking", ledger.head().position, options["verbosity"]) as advance:
            report = check(ledger, on_progress=advance)
        if not report.ok:
            for line in report.missing[:5] + report.unexpected[:5]:
                self.stderr.write(f"  {line[:200]}")
            raise CommandError(
                f"projections differ from a replay of {report.events} events: "
                f"{len(report.missing)} rows missing, {len(report.unexpected)} unexpected",
                returncode=1,
            )
        self.stdout.write(f"projections match a replay of {report.events} events")
