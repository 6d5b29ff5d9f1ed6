"""`revoke_api_key KEY_ID`: the key stops working at once; revocation is final."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contracts.runtime import get_ledger
from ledger import apikeys
from ledger.canonical import format_timestamp
from ledger.errors import NotFound


class Command(BaseCommand):
    help = "Revokes an API key (by its id, as list_api_keys shows it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        try:
            with ledger.write() as uow:
                key = apikeys.revoke(uow.conn, options["key_id"], ledger.clock())
        except NotFound as exc:
            raise CommandError(str(exc)) from None
        assert key.revoked_at is not None
        self.stdout.write(
            f"API key {key.key_id} ({key.name}) revoked at {format_timestamp(key.revoked_at)}"
        )
