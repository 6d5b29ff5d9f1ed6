"""`openapi`: write the served OpenAPI document to docs/openapi.json, or check it is there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contracts import openapi


class Command(BaseCommand):
    help = "Writes the API's OpenAPI document to docs/openapi.json (--check: compare only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=openapi.COMMITTED)
        parser.add_argument(
            "--check", action="store_true", help="exit 1 if the file differs from the served one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["output"]
        document = openapi.served()
        if options["check"]:
            try:
                committed = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"{path}: {exc}") from None
            if openapi.canonical(committed) != openapi.canonical(document):
                raise CommandError(f"{path} differs from the served document: run `make openapi`")
            self.stdout.write(f"{path} is the served document")
            return
        path.write_text(openapi.render(document))
        self.stdout.write(f"wrote {path}")
