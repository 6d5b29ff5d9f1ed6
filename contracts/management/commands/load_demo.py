"""`load_demo`: write the demo scenario through the ledger's commands (idempotent).

With `--credentials` (what `make serve` runs) it also makes the demo's logins: an admin
user `demo` (password `demo`) and a fresh admin-scoped API key named `demo`, printed once;
earlier demo keys are revoked. Never use it on a real deployment.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from contracts.runtime import get_ledger
from ledger import apikeys
from ledger.demo import SCENARIO, load_demo

DEMO_USER = DEMO_PASSWORD = DEMO_KEY_NAME = "demo"


class Command(BaseCommand):
    help = "Loads the Colossus 1 demo scenario; running it again changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials",
            action="store_true",
            help="also make a demo admin login and print a demo API key (development only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        appended = load_demo(ledger)
        head = ledger.head()
        self.stdout.write(
            f"demo scenario: {appended} of {len(SCENARIO)} steps appended events; "
            f"ledger head at position {head.position}"
        )
        if options["credentials"]:
            self._credentials()

    def _credentials(self) -> None:
        users = get_user_model()
        user, _ = users.objects.get_or_create(username=DEMO_USER)
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        ledger = get_ledger()
        revoked = []
        with ledger.write() as uow:
            for key in apikeys.list_keys(uow.conn):
                if key.name == DEMO_KEY_NAME and key.revoked_at is None:
                    revoked.append(apikeys.revoke(uow.conn, key.key_id, ledger.clock()).key_id)
            _, secret = apikeys.create(uow.conn, DEMO_KEY_NAME, ["admin"], None, ledger.clock())
        self.stdout.write(f"admin login: {DEMO_USER} / {DEMO_PASSWORD}")
        if revoked:
            # Only hashes of secrets are stored: an earlier key cannot be printed again, so
            # each run makes a new one, and says that the last one stopped working.
            self.stdout.write(
                f"the earlier demo API key ({', '.join(revoked)}) is revoked: use this one"
            )
        self.stdout.write(f"API key (admin scope): {secret}")
