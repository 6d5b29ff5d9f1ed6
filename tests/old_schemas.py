"""A ledger whose registrations, allocations and limit changes were all written by an
older schema.

`install` makes the current models of BUMPED schema version 2 and stores every new event
of those types as version 1, in a shape that only the version 1 upcaster understands (its
fields under one key). A reader that parses the stored JSON itself, instead of decoding
it through the registry, then finds none of the fields it looks for.

Run a test directory against it with LEDGER_TEST_OLD_SCHEMAS=1 (CI runs the API and admin
tests so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson
from pydantic import ConfigDict

from ledger.canonical import canonical_model_json
from ledger.domain import registry
from ledger.domain.events import (
    CapacityAllocated,
    FacilityRegistered,
    LimitChanged,
    PartyRegistered,
)
from ledger.events import Event, NewEvent
from ledger.store import EventStore

BUMPED: tuple[type[Event], ...] = (
    PartyRegistered,
    FacilityRegistered,
    CapacityAllocated,
    LimitChanged,
)
OLD_KEY = "fields_of_version_1"

Patch = Callable[[Any, str, Any], None]


def _old_model(current: type[Event]) -> type[Event]:
    """The version 1 model of `current`'s type: its fields, nested under OLD_KEY."""

    class Old(Event):
        model_config = ConfigDict(frozen=True, extra="forbid")
        event_type = current.event_type
        schema_version = 1
        fields_of_version_1: dict[str, Any]

    Old.__name__ = f"{current.__name__}V1"
    return Old


def _to_current(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data[OLD_KEY]
    return result


def install(patch: Patch = setattr) -> None:
    """Bump BUMPED's schemas (`patch` sets attributes: `setattr` for a whole run,
    `monkeypatch.setattr` for one test)."""
    old_models = {cls: _old_model(cls) for cls in BUMPED}
    upcasters = dict(registry._upcasters)
    for cls in BUMPED:
        patch(cls, "schema_version", 2)
        upcasters[(cls.event_type, 1)] = _to_current
    patch(registry, "_upcasters", upcasters)

    def as_written_by_version_1(event: Event) -> Event:
        old = old_models.get(type(event))
        if old is None:
            return event
        return old(fields_of_version_1=orjson.loads(canonical_model_json(event)))

    current_encode = registry.encode

    def encode(event: Event) -> bytes:
        if type(event) in old_models.values():
            return canonical_model_json(event)
        return current_encode(event)

    patch(registry, "encode", encode)
    current_append = EventStore.append

    def append(self: EventStore, conn: Any, new_events: Sequence[NewEvent], expected: Any) -> Any:
        old = [replace(new, event=as_written_by_version_1(new.event)) for new in new_events]
        return current_append(self, conn, old, expected)

    patch(EventStore, "append", append)
