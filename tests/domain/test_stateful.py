"""Random command sequences against the real handlers and a small reference model.

The model is plain dicts and lists, evaluated per instant with no step-function code of
its own: for each accepted change it keeps (effective_at, position, value) and answers
"what held at t as known at K" by scanning. Every command's acceptance must agree with
the model's own invariant check, every projection query must agree with the model at
random (as_of, known_at) points, and a rebuild must reproduce the inline tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger import read
from ledger.domain import commands as c
from ledger.domain.events import CapacityLine
from ledger.errors import RuleViolation
from ledger.projections.rebuild import check
from ledger.service import Context, execute
from ledger.unit_of_work import Ledger
from tests.support import reset_ledger

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
DAYS = [datetime(2026, month, 1, tzinfo=UTC) for month in range(1, 13)] + [END]
CTX = Context(actor="hypothesis", source="cli")
PLAN, LIMIT = "pro", "requests"


def gpus(n: int) -> tuple[CapacityLine, ...]:
    return (CapacityLine(resource="gpu.h100", quantity=Decimal(n), unit="gpu"),)


@dataclass
class Model:
    """Accepted changes, each tagged with the ledger position it was appended at."""

    base: int = 100
    amendments: list[tuple[datetime, int, int]] = field(default_factory=list)
    allocations: dict[str, list[tuple[datetime, int, int]]] = field(default_factory=dict)
    limits: list[tuple[datetime, int, int, datetime | None]] = field(default_factory=list)

    def contracted(self, t: datetime, known: int) -> int:
        if not START <= t < END:
            return 0
        held = [(e, p, q) for e, p, q in self.amendments if e <= t and p <= known]
        return max(held)[2] if held else self.base

    def allocated(self, t: datetime, known: int) -> int:
        if not START <= t < END:
            return 0
        total = 0
        for changes in self.allocations.values():
            held = [(e, p, q) for e, p, q in changes if e <= t and p <= known]
            total += max(held)[2] if held else 0
        return total

    def limit(self, t: datetime, known: int) -> int | None:
        held = [
            (e, p, v)
            for e, p, v, u in self.limits
            if e <= t and (u is None or t < u) and p <= known
        ]
        return max(held)[2] if held else None

    def fits(self, known: int) -> bool:
        return all(self.allocated(t, known) <= self.contracted(t, known) for t in DAYS)


class LedgerMachine(RuleBasedStateMachine):
    ledger: Ledger

    def __init__(self) -> None:
        super().__init__()
        reset_ledger(self.ledger.engine)
        self.model = Model()
        self.pending = 10**9  # stands for "the change being tried", after every known one

    @initialize()
    def set_up(self) -> None:
        # Answers are also read through a cache that lives across steps, so that its spans
        # meet writes, rebuilds and every as_of the model checks.
        self.answers = read.AnswerCache()
        execute(
            self.ledger, c.RegisterParty(party_id="spacex", name="SpaceX", roles=("provider",)), CTX
        )
        execute(
            self.ledger,
            c.RegisterParty(party_id="anthropic", name="Anthropic", roles=("tenant",)),
            CTX,
        )
        execute(
            self.ledger,
            c.RegisterFacility(
                facility_id="f1",
                provider="spacex",
                name="F1",
                location="Memphis",
                capacity=gpus(1_000),
                effective_at=datetime(2025, 1, 1, tzinfo=UTC),
                reason="in service",
            ),
            CTX,
        )
        execute(
            self.ledger,
            c.DraftContract(
                contract_id="ctr_1",
                provider="spacex",
                tenant="anthropic",
                facility="f1",
                title="lease",
                term={"start": START, "end": END},
                capacity=gpus(100),  # type: ignore[arg-type]
            ),
            CTX,
        )
        execute(self.ledger, c.SignContract(contract_id="ctr_1", signed_by=("both",)), CTX)

    def attempt(self, command: c.Command, model_change: callable) -> None:  # type: ignore[valid-type]
        undo = model_change(self.pending)
        expected_ok = self.model.fits(self.pending)
        if not expected_ok:
            undo()
            with pytest.raises(RuleViolation, match="allocation_exceeds_contract"):
                execute(self.ledger, command, CTX)
            return
        outcome = execute(self.ledger, command, CTX)
        undo()
        # The first event of the command is the contract's: from there on it is known.
        model_change(outcome.events[0].position)

    @rule(
        workload=st.sampled_from(["a", "b", "c"]),
        day=st.sampled_from(DAYS[:-1]),
        quantity=st.integers(1, 80),
    )
    def allocate(self, workload: str, day: datetime, quantity: int) -> None:
        allocation = f"alc_{workload}{len(self.model.allocations)}"

        def change(position: int):  # type: ignore[no-untyped-def]
            self.model.allocations[allocation] = [(day, position, quantity)]
            return lambda: self.model.allocations.pop(allocation)

        command = c.AllocateCapacity(
            contract_id="ctr_1",
            allocation_id=allocation,
            workload=workload,
            resource="gpu.h100",
            quantity=Decimal(quantity),
            effective_at=day,
            reason="random",
        )
        self.attempt(command, change)

    @precondition(lambda self: bool(self.model.allocations))
    @rule(data=st.data(), day=st.sampled_from(DAYS[:-1]), quantity=st.integers(1, 80))
    def resize(self, data: st.DataObject, day: datetime, quantity: int) -> None:
        allocation = data.draw(st.sampled_from(sorted(self.model.allocations)))
        if day < min(e for e, _, _ in self.model.allocations[allocation]):
            return  # resizing before the allocation starts is another rule (term_invalid)

        def change(position: int):  # type: ignore[no-untyped-def]
            self.model.allocations[allocation].append((day, position, quantity))
            return lambda: self.model.allocations[allocation].pop()

        command = c.ResizeAllocation(
            contract_id="ctr_1",
            allocation_id=allocation,
            quantity=Decimal(quantity),
            effective_at=day,
            reason="random",
        )
        self.attempt(command, change)

    @rule(day=st.sampled_from(DAYS[:-1]), quantity=st.integers(0, 200))
    def amend(self, day: datetime, quantity: int) -> None:
        def change(position: int):  # type: ignore[no-untyped-def]
            self.model.amendments.append((day, position, quantity))
            return lambda: self.model.amendments.pop()

        command = c.AmendContract(
            contract_id="ctr_1", effective_at=day, capacity=gpus(quantity), reason="random"
        )
        self.attempt(command, change)

    @rule(
        day=st.sampled_from(DAYS[:-1]),
        value=st.integers(0, 1_000),
        lasts=st.sampled_from([None, 1, 3]),
    )
    def change_limit(self, day: datetime, value: int, lasts: int | None) -> None:
        until = None if lasts is None else DAYS[min(DAYS.index(day) + lasts, len(DAYS) - 1)]
        outcome = execute(
            self.ledger,
            c.ChangeLimit(
                tenant="anthropic",
                plan=PLAN,
                limit=LIMIT,
                operation="set",
                value=Decimal(value),
                effective_at=day,
                until=until,
                reason="random",
            ),
            CTX,
        )
        self.model.limits.append((day, outcome.position or 0, value, until))

    @invariant()
    def projections_match_the_model(self) -> None:
        if not hasattr(self, "model") or self.ledger.head().position < 6:
            return
        head = self.ledger.head().position
        with self.ledger.read() as conn:
            for known in sorted({6, head // 2 + 3, head}):
                for as_of in [*DAYS[::3], datetime(2026, 2, 15, tzinfo=UTC)]:
                    found = read.entitlements(
                        conn, "anthropic", as_of, min(known, head), self.answers
                    )
                    capacity = {e.resource: e for e in found.capacity}
                    gpu = capacity.get("gpu.h100")
                    contracted = int(gpu.contracted) if gpu else 0
                    allocated = int(gpu.allocated) if gpu else 0
                    assert (contracted, allocated) == (
                        self.model.contracted(as_of, known),
                        self.model.allocated(as_of, known),
                    ), (as_of, known)
                    limit = {(v.plan, v.limit): v.value for v in found.limits}.get((PLAN, LIMIT))
                    assert (None if limit is None else int(limit)) == self.model.limit(as_of, known)

    def teardown(self) -> None:
        if hasattr(self, "model"):
            assert check(self.ledger).ok


@pytest.mark.slow
def test_random_command_sequences_agree_with_the_reference_model(ledger: Ledger) -> None:
    LedgerMachine.ledger = ledger
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
