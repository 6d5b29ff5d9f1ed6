"""`create_api_key`: make a key; it is printed once, alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contracts.runtime import get_ledger
from ledger import apikeys
from ledger.errors import InvalidInput


class Command(BaseCommand):
    help = "Creates an API key. Only a salted hash is stored: copy the key now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="who or what the key is for")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=apikeys.SCOPES,
            help="repeat for several scopes",
        )
        parser.add_argument("--tenant", help="bind the key to one tenant: it sees nothing else")

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        try:
            with ledger.write() as uow:
                key, secret = apikeys.create(
                    uow.conn, options["name"], options["scope"], options["tenant"], ledger.clock()
                )
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        bound = f", tenant {key.tenant}" if key.tenant else ""
        self.stderr.write(
            f"API key {key.key_id} ({key.name}): scopes {' '.join(sorted(key.scopes))}{bound}."
            " It is shown once:"
        )
        self.stdout.write(secret)
