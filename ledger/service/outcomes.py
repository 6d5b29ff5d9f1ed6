"""What running a command comes to, and the adapter's answer to it.

The ledger does not know HTTP: an `Answer` is whatever the adapter renders (the API puts
its status in `code`), stored with an idempotency key and handed back unread on a repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.errors import NotFound, RuleViolation
from ledger.events import NewEvent, RecordedEvent

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Answer:
    """An adapter's rendering of an outcome, as it goes out (code, body, headers): opaque
    to the ledger, which stores it with an idempotency key and hands it back unread."""

    code: int
    body: bytes
    headers: Headers = ()


@dataclass(frozen=True)
class Accepted:
    """The command's events are appended (committed once `execute` returns)."""

    result: Mapping[str, Any]
    events: tuple[RecordedEvent, ...]
    position: int
    answer: Answer | None = None
    decided: tuple[NewEvent, ...] = ()
    """The events as the command decided them, in the order of `events`."""


@dataclass(frozen=True)
class Planned:
    """A dry run: the events were appended, rendered from and rolled back."""

    result: Mapping[str, Any]
    planned: tuple[NewEvent, ...]
    answer: Answer | None = None


@dataclass(frozen=True)
class Replayed:
    """A repeat of an idempotent request: the first one's answer, as it was stored."""

    answer: Answer
    position: int | None


Refusal = NotFound | RuleViolation
"""What the domain decides against a request, as opposed to failing to decide (a version
conflict, a busy ledger): an idempotent request's refusal is its answer, kept like a success."""


@dataclass(frozen=True)
class Refused:
    """An idempotent request the domain refused: the refusal, rendered and kept."""

    refusal: Refusal
    answer: Answer


Outcome = Accepted | Planned | Replayed | Refused

Render = Callable[[Connection, Accepted], Answer]
"""Renders a command's answer from the state it left, inside its transaction."""

Refuse = Callable[[Refusal], Answer]
"""Renders a refusal."""
