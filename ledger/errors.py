"""Typed errors of the ledger. Adapters translate these once, at their boundary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class ProjectionsOutdated(LedgerError):
    """The projection rows are in an older format than this code reads: run `migrate`
    (or `rebuild_projections`)."""


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    msg: str


class InvalidInput(LedgerError):
    """Input that can never be accepted, whatever the ledger's state."""

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)


class InvalidPayload(InvalidInput):
    """An event's payload does not satisfy its registered schema."""

    def __init__(self, event_type: str, errors: Sequence[FieldError]) -> None:
        detail = "; ".join(f"{'.'.join(map(str, e.loc)) or '<root>'}: {e.msg}" for e in errors)
        super().__init__(f"invalid {event_type} payload: {detail}", errors)
        self.event_type = event_type


class InvalidTimestamp(InvalidInput):
    """A timestamp that is naive or not in UTC."""


class NonCanonicalValue(InvalidInput):
    """A value canonical JSON cannot represent exactly (a float, a huge integer...)."""


class UnknownEventType(LedgerError):
    """A (type, schema_version) the registry cannot decode or encode."""

    def __init__(self, event_type: str, schema_version: int | None = None) -> None:
        which = event_type if schema_version is None else f"{event_type} v{schema_version}"
        super().__init__(f"unknown event type {which}")
        self.event_type = event_type
        self.schema_version = schema_version


class ConcurrencyError(LedgerError):
    """A stream was not at the version the append expected; nothing was written."""

    def __init__(self, stream_id: str, expected: object, actual: int | None) -> None:
        where = "has moved on" if actual is None else f"is at version {actual}"
        super().__init__(f"stream {stream_id!r} {where}, the append expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEvent(LedgerError):
    """An event id that the ledger already holds."""


class LedgerBusy(LedgerError):
    """A lock was not had in time (lock_timeout, statement_timeout, SQLite's busy_timeout):
    nothing was written; the same request may succeed a moment later."""


class ProjectionsStale(LedgerError):
    """The read tables do not hold the events (an import stopped before building them):
    nothing may be read from them or written on top of them until a rebuild finishes."""

    def __init__(self) -> None:
        super().__init__(
            "the ledger's projections are incomplete: run `python manage.py rebuild_projections`"
        )


class DatabaseUnavailable(LedgerError):
    """The database connection failed or was lost (terminated, restarted): nothing was
    committed, and the pool holds that connection no longer."""


class PositionInFuture(LedgerError):
    """A position the request names lies past the head: no wait can make it true, since
    only a write moves the head."""

    def __init__(self, field: str, position: int, head: int) -> None:
        super().__init__(f"{field} {position} is past the head ({head})")
        self.field = field
        self.position = position
        self.head = head


class IdempotencyConflict(LedgerError):
    """An idempotency key reused with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class IdempotencyRace(LedgerError):
    """Another transaction recorded the same idempotency key first: look it up again."""


class NotFound(LedgerError):
    """A party, facility, contract or allocation that does not exist."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind} {identifier!r} not found")
        self.kind = kind
        self.identifier = identifier


RULES = (
    "term_invalid",
    "contract_state",
    "allocation_exceeds_contract",
    "facility_overcommitted",
    "provider_mismatch",
    "limit_invalid",
    "period_closed",
    "already_exists",
    "party_role",
)


class RuleViolation(LedgerError):
    """A domain rule the command would break, with the first business instant it breaks at."""

    def __init__(
        self,
        rule: str,
        detail: str,
        *,
        resource: str | None = None,
        at: datetime | None = None,
    ) -> None:
        assert rule in RULES, rule
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail
        self.resource = resource
        self.at = at
