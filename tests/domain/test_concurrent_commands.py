"""Invariants under concurrency, on PostgreSQL with real threads.

Signing appends to the contract and the facility stream together, with the versions it
loaded: of several signings that together over-commit a facility, exactly the ones that
fit succeed. Likewise for allocations that together exceed a contract.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledger import handlers, read
from ledger.domain import commands as c
from ledger.domain.events import CapacityLine
from ledger.errors import RuleViolation
from ledger.service import Context, execute
from ledger.unit_of_work import Ledger

pytestmark = pytest.mark.postgres

START, END = datetime(2026, 5, 6, tzinfo=UTC), datetime(2028, 5, 6, tzinfo=UTC)
CTX = Context(actor="ops", source="cli")


def gpus(n: int) -> tuple[CapacityLine, ...]:
    return (CapacityLine(resource="gpu.h100", quantity=Decimal(n), unit="gpu"),)


def setup_parties(ledger: Ledger, facility_gpus: int) -> None:
    execute(ledger, c.RegisterParty(party_id="spacex", name="SpaceX", roles=("provider",)), CTX)
    execute(ledger, c.RegisterParty(party_id="anthropic", name="Anthropic", roles=("tenant",)), CTX)
    execute(
        ledger,
        c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis",
            capacity=gpus(facility_gpus),
            effective_at=datetime(2026, 1, 1, tzinfo=UTC),
            reason="in service",
        ),
        CTX,
    )


def draft(ledger: Ledger, contract_id: str, quantity: int) -> None:
    execute(
        ledger,
        c.DraftContract(
            contract_id=contract_id,
            provider="spacex",
            tenant="anthropic",
            facility="colossus-1",
            title=f"lease {contract_id}",
            term={"start": START, "end": END},  # type: ignore[arg-type]
            capacity=gpus(quantity),
        ),
        CTX,
    )


def race(ledger: Ledger, commands: list[c.Command]) -> tuple[list[c.Command], list[BaseException]]:
    barrier = threading.Barrier(len(commands))
    succeeded: list[c.Command] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run(command: c.Command) -> None:
        barrier.wait()
        try:
            execute(ledger, command, CTX, attempts=20)
            with lock:
                succeeded.append(command)
        except BaseException as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=run, args=(command,)) for command in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return succeeded, failures


def test_concurrent_signings_never_double_lease_a_facility(ledger: Ledger) -> None:
    setup_parties(ledger, facility_gpus=100)
    for n in range(6):
        draft(ledger, f"ctr_race-{n}", 30)

    succeeded, failures = race(
        ledger, [c.SignContract(contract_id=f"ctr_race-{n}", signed_by=("both",)) for n in range(6)]
    )

    assert len(succeeded) == 3  # 3 x 30 fit in 100; a fourth would not
    assert len(failures) == 3
    assert all(
        isinstance(f, RuleViolation) and f.rule == "facility_overcommitted" for f in failures
    )
    with ledger.read() as conn:
        for moment in (START, datetime(2027, 1, 1, tzinfo=UTC), END):
            gpu = next(r for r in read.facility(conn, "colossus-1", moment).resources)
            assert gpu.reserved <= gpu.capacity
        assert read.facility(conn, "colossus-1", START).resources[0].reserved == 90
    assert ledger.verify().ok


def test_concurrent_allocations_never_exceed_their_contract(ledger: Ledger) -> None:
    setup_parties(ledger, facility_gpus=1_000)
    draft(ledger, "ctr_lease", 100)
    execute(ledger, c.SignContract(contract_id="ctr_lease", signed_by=("both",)), CTX)

    commands: list[c.Command] = [
        c.AllocateCapacity(
            contract_id="ctr_lease",
            workload=f"workload-{n}",
            resource="gpu.h100",
            quantity=Decimal(30),
            effective_at=START,
            reason="race",
        )
        for n in range(8)
    ]
    succeeded, failures = race(ledger, commands)

    assert len(succeeded) == 3
    assert all(
        isinstance(f, RuleViolation) and f.rule == "allocation_exceeds_contract" for f in failures
    )
    with ledger.read() as conn:
        [gpu] = read.entitlements(conn, "anthropic", datetime(2027, 1, 1, tzinfo=UTC)).capacity
    assert (gpu.contracted, gpu.allocated) == (100, 90)
    assert ledger.verify().ok


def test_a_period_closed_while_a_contract_command_decides_is_never_written_into(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allocation reads the tenant's books, then (held here, the widest window) the
    close is sent. Either the allocation commits first or it is refused: it must never be
    recorded after a close that covers it."""
    setup_parties(ledger, facility_gpus=1_000)
    draft(ledger, "ctr_lease", 100)
    execute(ledger, c.SignContract(contract_id="ctr_lease", signed_by=("both",)), CTX)
    books_read, close_sent = threading.Event(), threading.Event()
    read_books = handlers.State.closed_through

    def read_then_wait(state: handlers.State, party_id: str) -> datetime | None:
        closed = read_books(state, party_id)
        if threading.current_thread().name == "allocate":
            books_read.set()
            close_sent.wait(10)
            time.sleep(0.3)  # the close is under way now: committed, or waiting for a lock
        return closed

    monkeypatch.setattr(handlers.State, "closed_through", read_then_wait)
    outcome: list[object] = []

    def allocate() -> None:
        backdated = c.AllocateCapacity(
            contract_id="ctr_lease",
            workload="training",
            resource="gpu.h100",
            quantity=Decimal(10),
            effective_at=datetime(2026, 7, 1, tzinfo=UTC),
            reason="backdated",
        )
        try:
            outcome.append(execute(ledger, backdated, CTX))
        except RuleViolation as exc:
            outcome.append(exc)

    def close() -> None:
        books_read.wait(10)
        close_sent.set()
        execute(
            ledger, c.ClosePeriod(tenant="anthropic", through=datetime(2026, 9, 1, tzinfo=UTC)), CTX
        )

    threads = [threading.Thread(target=allocate, name="allocate"), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    with ledger.read() as conn:
        recorded = {r.type: r.position for r in ledger.store.read_all(conn)}
    assert "PeriodClosed" in recorded
    (result,) = outcome
    if isinstance(result, RuleViolation):
        assert result.rule == "period_closed"
        assert "CapacityAllocated" not in recorded
    else:
        assert recorded["CapacityAllocated"] < recorded["PeriodClosed"]
