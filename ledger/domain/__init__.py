"""The capacity-contract domain. Its event types register in `registry`."""

from ledger.events import EventRegistry

registry = EventRegistry()
