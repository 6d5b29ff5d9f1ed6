"""`import_events FILE.jsonl`: restore a full export into an empty ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contracts.progress import progress_bar
from contracts.runtime import get_ledger
from ledger.errors import InvalidInput
from ledger.restore import restore


class Command(BaseCommand):
    help = "Restores a JSONL export into an empty ledger (same positions and hashes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        lines = sum(1 for _ in path.open("rb"))
        try:
            with progress_bar("importing", lines, options["verbosity"]) as advance:
                restored = restore(get_ledger(), path, on_progress=advance)
        except InvalidInput as exc:
            raise CommandError(f"nothing imported: {exc}") from None
        self.stdout.write(
            f"imported {restored.events} events; head position {restored.head_position},"
            f" hash {restored.head_hash}; projections rebuilt"
        )
