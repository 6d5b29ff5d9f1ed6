"""`load_demo`: write the demo scenario through the ledger's commands (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from contracts.runtime import get_ledger
from ledger.demo import SCENARIO, load_demo


class Command(BaseCommand):
    help = "Loads the Colossus 1 demo scenario; running it again changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        ledger = get_ledger()
        appended = load_demo(ledger)
        head = ledger.head()
        self.stdout.write(
            f"demo scenario: {appended} of {len(SCENARIO)} steps appended events; "
            f"ledger head at position {head.position}"
        )
