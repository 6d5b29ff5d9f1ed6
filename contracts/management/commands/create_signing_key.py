"""`create_signing_key`: a new Ed25519 key for export manifests (never overwrites one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.signing import Signer


class Command(BaseCommand):
    help = "Writes a new Ed25519 signing key (PEM) and prints its public key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", type=Path, help="where to write it (default: LEDGER_SIGNING_KEY_FILE)"
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing if the file already exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["output"] or Path(settings.LEDGER_SIGNING_KEY_FILE)
        if path.exists():
            if options["if_missing"]:
                self.stdout.write(f"signing key already at {path}")
                return
            raise CommandError(f"{path} exists: a signing key is never overwritten")
        signer = Signer.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(signer.private_pem())
        self.stdout.write(f"signing key written to {path}; its public key:\n{signer.public_pem()}")
