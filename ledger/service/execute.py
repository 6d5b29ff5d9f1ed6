"""`execute`: one command, one unit of work (see the package's docstring)."""

from __future__ import annotations

from ledger import handlers
from ledger.domain import commands as c
from ledger.errors import NotFound, RuleViolation
from ledger.idempotency import IdempotencyRecord
from ledger.service.context import Context, IdempotencyRequest
from ledger.service.outcomes import (
    Accepted,
    Answer,
    Outcome,
    Planned,
    Refuse,
    Refused,
    Render,
    Replayed,
)
from ledger.service.state import State
from ledger.unit_of_work import Ledger, UnitOfWork


def _remember(
    uow: UnitOfWork, request: IdempotencyRequest, answer: Answer, position: int | None
) -> None:
    uow.remember_idempotent(
        IdempotencyRecord(
            request.scope,
            request.key,
            request.fingerprint,
            answer.code,
            answer.body.decode(),
            position,
            answer.headers,
        )
    )


def execute(
    ledger: Ledger,
    command: c.Command,
    ctx: Context | None = None,
    *,
    render: Render | None = None,
    refuse: Refuse | None = None,
    attempts: int = 5,
) -> Outcome:
    """Run `command` in one unit of work.

    With `render` the answer is rendered in the same transaction, so what an idempotent
    repeat gets is exactly what the first call got; an idempotency key needs one. With a
    key and `refuse`, a refusal is an answer too: rendered, kept with the key and returned
    (`Refused`), not raised, so that a repeat gets it again rather than a different answer
    from a ledger that has moved on. A dry run appends as the write would, renders from
    that, and rolls back (`Planned`): it answers as the write would, and nothing stays.
    """
    ctx = ctx or Context()
    if ctx.idempotency is not None and render is None:
        raise ValueError("an idempotent command needs a renderer: its answer is what a repeat gets")
    handler = handlers.HANDLERS[type(command)]

    def attempt(uow: UnitOfWork) -> Outcome:
        if ctx.idempotency is not None:
            seen = uow.find_idempotent(
                ctx.idempotency.scope, ctx.idempotency.key, ctx.idempotency.fingerprint
            )
            if seen is not None:
                kept = Answer(seen.code, seen.response.encode(), seen.headers or ())
                return Replayed(kept, seen.position)
        try:
            decision = handler(State(uow), command, ctx, ledger.clock())
        except (NotFound, RuleViolation) as refusal:
            if ctx.idempotency is None or refuse is None:
                raise
            refused = refuse(refusal)
            _remember(uow, ctx.idempotency, refused, None)
            return Refused(refusal, refused)
        recorded = tuple(uow.append(decision.events, decision.expected))
        accepted = Accepted(
            decision.result, recorded, recorded[-1].position, decided=decision.events
        )
        answer = None if render is None else render(uow.conn, accepted)
        if ctx.dry_run:
            return Planned(decision.result, decision.events, answer)
        if ctx.idempotency is not None:
            assert answer is not None
            _remember(uow, ctx.idempotency, answer, accepted.position)
        return Accepted(
            accepted.result, accepted.events, accepted.position, answer, decision.events
        )

    if ctx.expected_version is not None:
        # A pinned version is not retried: the conflict is the answer. Unless the request
        # has an idempotency key: the writer it lost to may have been its own first copy,
        # and the one retry replays that copy's answer (or conflicts again, and answers so).
        attempts = 1 if ctx.idempotency is None else 2
    return ledger.run(attempt, attempts=attempts, commit=not ctx.dry_run)
