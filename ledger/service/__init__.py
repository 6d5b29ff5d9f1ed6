"""The service layer: what runs a command. `execute` looks up an idempotent repeat, loads
the states a handler asks for (`State`), has the domain decide, appends with the inline
projections in one unit of work, and answers with an `Outcome`."""

from ledger.service.context import Context, IdempotencyRequest
from ledger.service.execute import execute
from ledger.service.outcomes import (
    Accepted,
    Answer,
    Outcome,
    Planned,
    Refusal,
    Refuse,
    Refused,
    Render,
    Replayed,
)
from ledger.service.state import State

__all__ = [
    "Accepted",
    "Answer",
    "Context",
    "IdempotencyRequest",
    "Outcome",
    "Planned",
    "Refusal",
    "Refuse",
    "Refused",
    "Render",
    "Replayed",
    "State",
    "execute",
]
