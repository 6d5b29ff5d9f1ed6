"""`public_key`: print the public half of the manifest signing key (PEM), for auditors."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from contracts.runtime import SigningKeyMissing, get_signer


class Command(BaseCommand):
    help = "Prints the Ed25519 public key (PEM) that verifies export manifests."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            pem = get_signer().public_pem()
        except SigningKeyMissing as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(pem, ending="")
