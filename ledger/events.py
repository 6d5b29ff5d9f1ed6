"""Event types, their registry and upcasters, and the envelope events are stored in.

An event type is a frozen pydantic model with a stable `event_type` name and a
`schema_version`. Stored rows are never rewritten: when a type's schema changes, its
version goes up and an upcaster turns the payload of each older version into the next
one as it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from ledger.canonical import canonical_model_json, envelope_bytes, format_timestamp
from ledger.errors import FieldError, InvalidPayload, UnknownEventType


class Event(BaseModel):
    """Base of every event payload. Subclasses set `event_type` and `schema_version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


Source = Literal["admin", "api", "cli", "import", "system"]


class Metadata(BaseModel):
    """Who caused an event and why; hashed with the event, never used for business rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str | None = None
    source: Source | None = None
    reason: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None


E = TypeVar("E", bound=type[Event])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def validation_errors(exc: ValidationError) -> list[FieldError]:
    return [FieldError(loc=tuple(err["loc"]), msg=err["msg"]) for err in exc.errors()]


class EventRegistry:
    """Maps (type, schema_version) to pydantic models, and older versions to upcasters."""

    def __init__(self) -> None:
        self._current: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: E) -> E:
        """Class decorator: make `cls` the current schema of its `event_type`."""
        name = cls.event_type
        _require_exact_json(cls)
        known = self._current.get(name)
        if known is not None and known is not cls:
            raise ValueError(f"event type {name!r} is already registered by {known.__name__}")
        self._current[name] = cls
        return cls

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: register the function turning `from_version` payloads into the next."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._current

    def types(self) -> Iterable[type[Event]]:
        return self._current.values()

    def current(self, event_type: str) -> type[Event]:
        try:
            return self._current[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def build(self, event_type: str, data: Mapping[str, Any]) -> Event:
        """Validate a payload for the current schema of `event_type`."""
        cls = self.current(event_type)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayload(event_type, validation_errors(exc)) from None

    def decode(self, event_type: str, schema_version: int, payload: str | bytes) -> Event:
        """Turn a stored payload into the current model, upcasting older versions."""
        cls = self.current(event_type)
        try:
            if schema_version == cls.schema_version:
                return cls.model_validate_json(payload)
            if schema_version > cls.schema_version or schema_version < 1:
                raise UnknownEventType(event_type, schema_version)
            data = orjson.loads(payload)
            for version in range(schema_version, cls.schema_version):
                step = self._upcasters.get((event_type, version))
                if step is None:
                    raise UnknownEventType(event_type, version)
                data = step(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayload(event_type, validation_errors(exc)) from None

    def encode(self, event: Event) -> bytes:
        """The canonical JSON payload of an event of a registered type."""
        registered = self._current.get(event.event_type)
        if registered is not type(event):
            raise UnknownEventType(event.event_type, event.schema_version)
        return canonical_model_json(event)


def _require_exact_json(cls: type[Event]) -> None:
    """Refuse event types whose JSON could hold floats or integers past 2**53 - 1: their
    canonical form would not be exact (see ledger.canonical)."""
    schema = orjson.dumps(cls.model_json_schema(mode="serialization"))
    if b'"type":"number"' in schema or b'"type":"integer"' in schema:
        raise ValueError(
            f"{cls.__name__}: event fields must not be floats or integers; use Quantity or str"
        )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended to `stream_id`, in force from `effective_at`."""

    stream_id: str
    event: Event
    effective_at: datetime
    metadata: Metadata = field(default_factory=Metadata)
    event_id: UUID | None = None


class RecordedEvent(NamedTuple):
    """A stored event: the envelope as docs/architecture.md describes it.

    `payload` and `metadata` hold canonical JSON text, so the envelope's hash can be
    recomputed without re-serialising anything. A named tuple, not a frozen dataclass:
    every read and every append builds one per event, and a tuple is built in one step
    where a frozen dataclass sets each of its twelve fields through `object.__setattr__`.
    """

    position: int
    stream_id: str
    stream_version: int
    event_id: str
    type: str
    schema_version: int
    payload: str
    metadata: str
    recorded_at: datetime
    effective_at: datetime
    prev_hash: str
    hash: str

    def canonical_bytes(self) -> bytes:
        return envelope_bytes(
            position=self.position,
            event_id=self.event_id,
            stream_id=self.stream_id,
            stream_version=self.stream_version,
            event_type=self.type,
            schema_version=self.schema_version,
            payload=self.payload.encode(),
            metadata=self.metadata.encode(),
            recorded_at=format_timestamp(self.recorded_at),
            effective_at=format_timestamp(self.effective_at),
        )

    def decode(self, registry: EventRegistry) -> Event:
        return registry.decode(self.type, self.schema_version, self.payload)

    def metadata_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(self.metadata)
        return result

    def as_json(self) -> dict[str, Any]:
        """The envelope as plain JSON values (payload and metadata parsed)."""
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "type": self.type,
            "schema_version": self.schema_version,
            "effective_at": format_timestamp(self.effective_at),
            "recorded_at": format_timestamp(self.recorded_at),
            "payload": orjson.loads(self.payload),
            "metadata": orjson.loads(self.metadata),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
