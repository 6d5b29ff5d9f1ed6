"""`export_audit`: the events as JSONL or CSV, and a signed manifest beside the file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contracts.progress import progress_bar
from contracts.runtime import SigningKeyMissing, get_ledger, get_signer
from ledger.canonical import parse_timestamp
from ledger.errors import InvalidInput, InvalidTimestamp, PositionInFuture
from ledger.export import FORMATS, ExportFilter, Tally, export_chunks, manifest, resolve


def _instant(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except InvalidTimestamp as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = "Exports the ledger (or a tenant's part, or a period) with a signed manifest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument("--tenant")
        parser.add_argument("--from", dest="start", help="recorded at or after (RFC 3339)")
        parser.add_argument("--to", dest="end", help="recorded before (RFC 3339)")
        parser.add_argument("--up-to", type=int, help="last position (default: the head)")
        parser.add_argument("--output", type=Path, required=True)
        parser.add_argument("--manifest", type=Path, help="default: OUTPUT.manifest.json")

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        output: Path = options["output"]
        manifest_path: Path = options["manifest"] or output.with_name(
            output.name + ".manifest.json"
        )
        wanted = ExportFilter(
            tenant=options["tenant"],
            start=_instant(options["start"]) if options["start"] else None,
            end=_instant(options["end"]) if options["end"] else None,
            up_to=options["up_to"],
        )
        try:
            signer = get_signer()
            with ledger.read(snapshot=True) as conn:
                wanted = resolve(conn, wanted)
                tally = Tally()
                assert wanted.up_to is not None
                with (
                    output.open("wb") as file,
                    progress_bar("exporting", wanted.up_to, options["verbosity"]) as advance,
                ):
                    for chunk in export_chunks(conn, wanted, options["format"], tally):
                        file.write(chunk)
                        advance(tally.last_position or 0)
                signed = manifest(conn, wanted, options["format"], tally, signer)
        except (InvalidInput, PositionInFuture, SigningKeyMissing) as exc:
            raise CommandError(str(exc)) from None
        manifest_path.write_text(json.dumps(signed, indent=2) + "\n")
        self.stdout.write(
            f"exported {tally.count} events (up to position {wanted.up_to}) to {output};"
            f" signed manifest {manifest_path}"
        )
