"""Unmanaged models over the ledger's tables, for the admin's lists only.

alembic owns these tables (and the view); Django never migrates them, and the admin never
writes through them: every change is a ledger command (contracts/admin_forms.py).
`tests/architecture/test_models.py` holds each model to the SQLAlchemy table it mirrors.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar

import orjson
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from contracts.database import stores_timestamps_as_text
from ledger.canonical import format_timestamp, parse_timestamp
from ledger.domain import registry

if TYPE_CHECKING:  # Django's fields are generic only to the type checker
    _DateTimeField = models.DateTimeField[Any, Any]
else:
    _DateTimeField = models.DateTimeField


class LedgerTimestamp(_DateTimeField):
    """The ledger's UtcTimestamp: `timestamptz` on PostgreSQL, RFC 3339 text on SQLite
    (`2026-05-06T00:00:00.000000Z`), so lookups compare like the ledger's own queries."""

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        if stores_timestamps_as_text(connection) and isinstance(value, datetime):
            return format_timestamp(value)
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return parse_timestamp(value)


class Event(models.Model):
    position = models.BigIntegerField(primary_key=True)
    event_id = models.CharField(max_length=36)
    stream_id = models.CharField(max_length=200)
    stream_version = models.IntegerField()
    type = models.CharField(max_length=100)
    schema_version = models.IntegerField()
    payload = models.TextField()
    metadata = models.TextField()
    recorded_at = LedgerTimestamp()
    effective_at = LedgerTimestamp()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        managed = False
        db_table = "ledger_events"
        ordering = ("-position",)
        verbose_name = "event"
        permissions = (
            ("run_party_commands", "Can register parties and facilities, close periods"),
            ("run_contract_commands", "Can draft, revise, void, sign, amend, terminate"),
            ("run_allocation_commands", "Can allocate, resize and release capacity"),
            ("run_limit_commands", "Can set, scale and remove limits"),
        )

    def __str__(self) -> str:
        return f"#{self.position} {self.type} on {self.stream_id}"

    @property
    def data(self) -> dict[str, Any]:
        """The payload as the current schema of its type has it (older versions upcast)."""
        return current_payload(self)

    @property
    def meta(self) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(self.metadata)
        return result

    @property
    def subject(self) -> str:
        """The id of the party, facility or contract whose stream this is."""
        return self.stream_id.split("-", 1)[1]


class Stored(Protocol):
    """A stored event, as a row of this model or as the store's `RecordedEvent`."""

    @property
    def type(self) -> str: ...
    @property
    def schema_version(self) -> int: ...
    @property
    def payload(self) -> str: ...


def current_payload(stored: Stored) -> dict[str, Any]:
    """A stored payload decoded through the registry, as the JSON of its current model."""
    event = registry.decode(stored.type, stored.schema_version, stored.payload)
    result: dict[str, Any] = orjson.loads(registry.encode(event))
    return result


_E = TypeVar("_E", bound="Event")


class EventsOfType(models.Manager[_E]):
    def __init__(self, event_type: str) -> None:
        super().__init__()
        self.event_type = event_type

    def get_queryset(self) -> models.QuerySet[_E]:
        return super().get_queryset().filter(type=self.event_type)


class Party(models.Model):
    """A registered party, from the active projection set (`ledger_parties_current`)."""

    party_id = models.CharField(max_length=100, primary_key=True)
    name = models.TextField()
    roles = models.CharField(max_length=200)
    position = models.BigIntegerField()
    recorded_at = LedgerTimestamp()

    class Meta:
        managed = False
        db_table = "ledger_parties_current"
        ordering = ("party_id",)
        verbose_name_plural = "parties"

    def __str__(self) -> str:
        return self.party_id


class Facility(models.Model):
    """A registered facility, from the active projection set."""

    facility_id = models.CharField(max_length=100, primary_key=True)
    provider = models.CharField(max_length=100)
    name = models.TextField()
    location = models.TextField()
    position = models.BigIntegerField()
    recorded_at = LedgerTimestamp()

    class Meta:
        managed = False
        db_table = "ledger_facilities_current"
        ordering = ("facility_id",)
        verbose_name_plural = "facilities"

    def __str__(self) -> str:
        return self.facility_id


class Allocation(models.Model):
    """An allocation as the ledger knows it now, from the active projection set."""

    key = models.CharField(max_length=201, primary_key=True)
    contract_id = models.CharField(max_length=100)
    allocation_id = models.CharField(max_length=100)
    known_from = models.BigIntegerField()
    tenant = models.CharField(max_length=100)
    workload = models.CharField(max_length=100)
    resource = models.CharField(max_length=100)
    first_quantity = models.CharField(max_length=64)
    starts_at = LedgerTimestamp()
    ends_at = LedgerTimestamp(null=True)

    class Meta:
        managed = False
        db_table = "ledger_allocations_current"
        ordering = ("-known_from",)

    def __str__(self) -> str:
        return self.allocation_id


class LimitChange(Event):
    objects: ClassVar[EventsOfType[Self]] = EventsOfType("LimitChanged")

    class Meta:
        proxy = True
        ordering = ("-position",)

    def __str__(self) -> str:
        return f"{self.data['plan']}/{self.data['limit']} of {self.subject}"


class Contract(models.Model):
    contract_id = models.CharField(max_length=100, primary_key=True)
    known_from = models.BigIntegerField()
    tenant = models.CharField(max_length=100)
    provider = models.CharField(max_length=100)
    facility = models.CharField(max_length=100)
    lifecycle = models.CharField(max_length=16)
    term_start = LedgerTimestamp()
    term_end = LedgerTimestamp()
    terminated_at = LedgerTimestamp(null=True)

    class Meta:
        managed = False
        db_table = "ledger_contracts_current"
        ordering = ("contract_id",)

    def __str__(self) -> str:
        return self.contract_id
