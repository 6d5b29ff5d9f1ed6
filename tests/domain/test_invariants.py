"""The six invariants of docs/architecture.md, driven through the real command handlers.

Every rule is checked at its boundary: accepted exactly at the limit, rejected one unit
(one GPU, a thousandth of a megawatt, one microsecond) past it, with the rule's name, the
resource and the first business instant it breaks at. Every rejection writes nothing, and
a dry run of it raises the same violation.

The scenario: SpaceX leases Colossus 1 in Memphis (220,000 H100s, 300 MW, in service since
1 January 2026) to Anthropic from 6 May 2026 for 24 months. The wall clock is real, so
instants in 2026 before today are backdated (and carry a reason) and those from 2027 on
are in the future.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import pytest

from ledger import read
from ledger.bootstrap import build_ledger
from ledger.domain import commands as c
from ledger.domain.events import CapacityLine, Term
from ledger.errors import ConcurrencyError, InvalidInput, LedgerError, NotFound, RuleViolation
from ledger.service import (
    Accepted,
    Answer,
    Context,
    IdempotencyRequest,
    Outcome,
    Planned,
    execute,
)
from ledger.store import EventStore, Head
from ledger.unit_of_work import Ledger

# -- memorable data ---------------------------------------------------------------------------


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


TICK = timedelta(microseconds=1)
IN_SERVICE = utc(2026, 1, 1)
LEASE_START = utc(2026, 5, 6)
LEASE_END = utc(2028, 5, 6)
LEASE = "colossus-lease"
H100, GB200, POWER = "gpu.h100", "gpu.gb200", "power.mw"
UNITS = {H100: "gpu", GB200: "gpu", POWER: "MW"}
REASON = "Colossus 1 lease schedule (ticket OPS-220)"
OPS = Context(actor="ops@anthropic.com", source="admin")
PLAN, RATE = "max", "claude-code.requests-per-5h"


def line(resource: str, quantity: int | str) -> CapacityLine:
    return CapacityLine(resource=resource, quantity=Decimal(str(quantity)), unit=UNITS[resource])


def lines(gpus: int | str | None, power: int | str | None = None) -> tuple[CapacityLine, ...]:
    result = []
    if gpus is not None:
        result.append(line(H100, gpus))
    if power is not None:
        result.append(line(POWER, power))
    return tuple(result)


def run(ledger: Ledger, command: c.Command, ctx: Context = OPS) -> Outcome:
    return execute(ledger, command, ctx)


def register_parties(ledger: Ledger) -> None:
    run(ledger, c.RegisterParty(party_id="spacex", name="SpaceX", roles=("provider",)))
    run(ledger, c.RegisterParty(party_id="anthropic", name="Anthropic", roles=("tenant",)))


def register_colossus(
    ledger: Ledger, gpus: int = 220_000, power: int | None = 300, in_service: datetime = IN_SERVICE
) -> None:
    run(
        ledger,
        c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis, Tennessee",
            capacity=lines(gpus, power),
            effective_at=in_service,
            reason="in service since the start of 2026",
        ),
    )


def register_oracle_abilene(ledger: Ledger) -> None:
    run(ledger, c.RegisterParty(party_id="oracle", name="Oracle", roles=("provider",)))
    run(
        ledger,
        c.RegisterFacility(
            facility_id="abilene-1",
            provider="oracle",
            name="Abilene 1",
            location="Abilene, Texas",
            capacity=lines(100_000),
            effective_at=IN_SERVICE,
            reason="in service since the start of 2026",
        ),
    )


def draft_command(
    contract_id: str | None = LEASE,
    *,
    start: datetime = LEASE_START,
    end: datetime = LEASE_END,
    gpus: int | str | None = 220_000,
    power: int | str | None = 300,
    provider: str = "spacex",
    tenant: str = "anthropic",
    facility: str = "colossus-1",
) -> c.DraftContract:
    return c.DraftContract(
        contract_id=contract_id,
        provider=provider,
        tenant=tenant,
        facility=facility,
        title="Colossus 1 whole-facility lease",
        reference="SPX-ANT-2026-05",
        term=Term(start=start, end=end),
        capacity=lines(gpus, power),
    )


def sign_command(contract_id: str = LEASE, **kwargs: Any) -> c.SignContract:
    kwargs.setdefault("reason", REASON)
    return c.SignContract(contract_id=contract_id, signed_by=("SpaceX", "Anthropic"), **kwargs)


def lease(ledger: Ledger, contract_id: str = LEASE, **terms: Any) -> str:
    """Draft and sign a lease of Colossus 1 to Anthropic."""
    run(ledger, draft_command(contract_id, **terms))
    run(ledger, sign_command(contract_id))
    return contract_id


def allocation(
    quantity: int | str,
    effective_at: datetime,
    *,
    until: datetime | None = None,
    workload: str = "claude-code",
    resource: str = H100,
    contract_id: str = LEASE,
    allocation_id: str | None = None,
    reason: str | None = REASON,
) -> c.AllocateCapacity:
    return c.AllocateCapacity(
        contract_id=contract_id,
        allocation_id=allocation_id,
        workload=workload,
        resource=resource,
        quantity=Decimal(str(quantity)),
        effective_at=effective_at,
        until=until,
        reason=reason,
    )


def allocate(ledger: Ledger, quantity: int | str, effective_at: datetime, **kwargs: Any) -> str:
    result = run(ledger, allocation(quantity, effective_at, **kwargs)).result
    return str(result["allocation_id"])


def amendment(
    effective_at: datetime,
    *,
    gpus: int | str | None = None,
    power: int | str | None = None,
    term_end: datetime | None = None,
    contract_id: str = LEASE,
    amendment_id: str | None = None,
    reason: str | None = REASON,
) -> c.AmendContract:
    return c.AmendContract(
        contract_id=contract_id,
        amendment_id=amendment_id,
        effective_at=effective_at,
        capacity=lines(gpus, power),
        term_end=term_end,
        reason=reason,
    )


def resize(
    allocation_id: str, quantity: int | str, effective_at: datetime, reason: str | None = REASON
) -> c.ResizeAllocation:
    return c.ResizeAllocation(
        contract_id=LEASE,
        allocation_id=allocation_id,
        quantity=Decimal(str(quantity)),
        effective_at=effective_at,
        reason=reason,
    )


def release(allocation_id: str, effective_at: datetime) -> c.ReleaseAllocation:
    return c.ReleaseAllocation(
        contract_id=LEASE, allocation_id=allocation_id, effective_at=effective_at, reason=REASON
    )


def terminate(
    effective_at: datetime, contract_id: str = LEASE, reason: str | None = REASON
) -> c.TerminateContract:
    return c.TerminateContract(contract_id=contract_id, effective_at=effective_at, reason=reason)


def facility_change(
    gpus: int, effective_at: datetime, reason: str | None = REASON
) -> c.ChangeFacilityCapacity:
    return c.ChangeFacilityCapacity(
        facility_id="colossus-1", capacity=lines(gpus), effective_at=effective_at, reason=reason
    )


def limit_change(
    operation: str,
    effective_at: datetime,
    *,
    value: int | str | None = None,
    factor: int | str | None = None,
    until: datetime | None = None,
    plan: str = PLAN,
    limit: str = RATE,
    tenant: str = "anthropic",
    reason: str | None = "doubling Claude Code rate limits on paid plans",
) -> c.ChangeLimit:
    return c.ChangeLimit(
        tenant=tenant,
        plan=plan,
        limit=limit,
        operation=operation,  # type: ignore[arg-type]
        value=None if value is None else Decimal(str(value)),
        factor=None if factor is None else Decimal(str(factor)),
        effective_at=effective_at,
        until=until,
        reason=reason,
    )


def close_books(ledger: Ledger, through: datetime) -> None:
    run(ledger, c.ClosePeriod(tenant="anthropic", through=through, reason="invoiced"))


# -- assertions -------------------------------------------------------------------------------

E = TypeVar("E", bound=LedgerError)


def count_stream_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The id of every stream read from now on (until `monkeypatch.undo()`), in order."""
    reads: list[str] = []
    read_stream = EventStore.read_stream

    def counted(store: EventStore, conn: Any, stream_id: str, *args: Any, **kw: Any) -> Any:
        reads.append(stream_id)
        return read_stream(store, conn, stream_id, *args, **kw)

    monkeypatch.setattr(EventStore, "read_stream", counted)
    return reads


def assert_nothing_written(ledger: Ledger, before: Head) -> None:
    assert ledger.head() == before
    assert ledger.verify().ok


def assert_rejected(
    ledger: Ledger,
    command: c.Command,
    rule: str,
    *,
    resource: str | None = None,
    at: datetime | None = None,
    ctx: Context = OPS,
) -> RuleViolation:
    """`command` breaks `rule` (first at `at`), in a dry run as for real, and writes nothing."""
    before = ledger.head()
    with pytest.raises(RuleViolation) as dry:
        execute(ledger, command, dataclasses.replace(ctx, dry_run=True))
    with pytest.raises(RuleViolation) as real:
        execute(ledger, command, ctx)
    for violation in (dry.value, real.value):
        assert (violation.rule, violation.resource, violation.at) == (rule, resource, at), str(
            violation
        )
    assert_nothing_written(ledger, before)
    return real.value


def assert_refused(ledger: Ledger, command: c.Command, error: type[E], ctx: Context = OPS) -> E:
    """`command` fails with `error` (not a rule violation) and writes nothing."""
    before = ledger.head()
    with pytest.raises(error) as info:
        execute(ledger, command, ctx)
    assert_nothing_written(ledger, before)
    return info.value


def assert_needs_reason(ledger: Ledger, command: c.Command) -> None:
    refusal = assert_refused(ledger, command, InvalidInput)
    assert "reason" in str(refusal)
    assert [e.loc for e in refusal.errors] == [("reason",)]


def payload(outcome: Outcome, index: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(outcome.events[index].payload)
    return result


def entitlement(ledger: Ledger, as_of: datetime, resource: str = H100) -> read.CapacityEntitlement:
    with ledger.read() as conn:
        view = read.entitlements(conn, "anthropic", as_of)
    return next(e for e in view.capacity if e.resource == resource)


def entitlement_or_none(ledger: Ledger, as_of: datetime) -> read.CapacityEntitlement | None:
    with ledger.read() as conn:
        view = read.entitlements(conn, "anthropic", as_of)
    return next((e for e in view.capacity if e.resource == H100 and e.contracted), None)


def contracted_gpus(ledger: Ledger, as_of: datetime) -> Decimal:
    with ledger.read() as conn:
        view = read.contract(conn, LEASE, as_of)
    return next(line.quantity for line in view.capacity if line.resource == H100)


def facility_resource(
    ledger: Ledger, as_of: datetime, resource: str = H100
) -> read.FacilityResource:
    with ledger.read() as conn:
        view = read.facility(conn, "colossus-1", as_of)
    return next(r for r in view.resources if r.resource == resource)


def limit_value(
    ledger: Ledger, as_of: datetime, known_at: int | None = None, limit: str = RATE
) -> Decimal | str | None:
    """The limit's value at `as_of` ("unlimited", or None when no limit is in force)."""
    with ledger.read() as conn:
        views = read.limits(conn, "anthropic", as_of, known_at)
    found = [v for v in views if (v.plan, v.limit) == (PLAN, limit)]
    if not found:
        return None
    return "unlimited" if found[0].unlimited else found[0].value


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def colossus(ledger: Ledger) -> Ledger:
    """SpaceX, Anthropic and Colossus 1 (220,000 H100s and 300 MW since 1 January 2026)."""
    register_parties(ledger)
    register_colossus(ledger)
    return ledger


@pytest.fixture
def leased(colossus: Ledger) -> Ledger:
    """Colossus 1 leased whole to Anthropic, signed, from 6 May 2026 to 6 May 2028."""
    lease(colossus)
    return colossus


@pytest.fixture
def gpu_only(ledger: Ledger) -> Ledger:
    """Colossus 1 with GPUs only, so that several GPU contracts can share it."""
    register_parties(ledger)
    register_colossus(ledger, power=None)
    return ledger


# == Invariant 1: a term is a half-open interval [start, end) with start < end ================


def test_accepts_a_term_one_microsecond_long(colossus: Ledger) -> None:
    outcome = run(colossus, draft_command(start=utc(2027, 1, 1), end=utc(2027, 1, 1) + TICK))

    assert outcome.result == {"contract_id": LEASE}


def test_rejects_a_term_that_ends_where_it_starts(colossus: Ledger) -> None:
    start = utc(2027, 1, 1)

    assert_rejected(colossus, draft_command(start=start, end=start), "term_invalid", at=start)


def test_rejects_a_term_that_ends_before_it_starts(colossus: Ledger) -> None:
    start = utc(2027, 1, 1)

    assert_rejected(
        colossus, draft_command(start=start, end=start - TICK), "term_invalid", at=start
    )


def test_rejects_revising_a_draft_into_an_empty_term(colossus: Ledger) -> None:
    run(colossus, draft_command())

    revision = c.ReviseDraft(contract_id=LEASE, term=Term(start=LEASE_END, end=LEASE_END))
    assert_rejected(colossus, revision, "term_invalid", at=LEASE_END)


def test_rejects_an_amendment_that_ends_the_term_at_its_start(leased: Ledger) -> None:
    in_the_future = utc(2027, 1, 1)

    assert_rejected(
        leased,
        amendment(in_the_future, term_end=LEASE_START),
        "term_invalid",
        at=LEASE_START,
    )
    run(leased, amendment(in_the_future, term_end=LEASE_START + TICK))


def test_rejects_an_allocation_whose_until_is_not_after_its_start(leased: Ledger) -> None:
    moment = utc(2027, 1, 1)

    assert_rejected(leased, allocation(1, moment, until=moment), "term_invalid", at=moment)
    allocate(leased, 1, moment, until=moment + TICK)


def test_rejects_an_allocation_starting_at_the_end_of_the_term(leased: Ledger) -> None:
    assert_rejected(leased, allocation(1, LEASE_END), "term_invalid", at=LEASE_END)
    allocate(leased, 1, LEASE_END - TICK)


def test_rejects_an_allocation_ending_at_the_start_of_the_term(gpu_only: Ledger) -> None:
    start = utc(2027, 1, 1)
    lease(gpu_only, start=start, end=utc(2028, 1, 1), power=None)
    before_the_term = utc(2026, 12, 15)

    assert_rejected(
        gpu_only, allocation(1, before_the_term, until=start), "term_invalid", at=before_the_term
    )
    allocate(gpu_only, 1, before_the_term, until=start + TICK)


def test_rejects_a_temporary_limit_change_whose_until_is_not_after_its_start(
    leased: Ledger,
) -> None:
    moment = utc(2027, 1, 1)

    assert_rejected(
        leased, limit_change("set", moment, value=100, until=moment), "term_invalid", at=moment
    )


def test_rejects_a_facility_capacity_change_before_it_came_into_service(colossus: Ledger) -> None:
    assert_rejected(
        colossus, facility_change(250_000, IN_SERVICE - TICK), "term_invalid", at=IN_SERVICE - TICK
    )
    run(colossus, facility_change(250_000, IN_SERVICE))


def test_rejects_a_resize_effective_before_the_allocation_starts(leased: Ledger) -> None:
    starts = utc(2027, 2, 1)
    training = allocate(leased, 100_000, starts, workload="training")

    assert_rejected(
        leased, resize(training, 50_000, starts - TICK), "term_invalid", at=starts - TICK
    )
    run(leased, resize(training, 50_000, starts))


# == Invariant 2: only drafts are revised, signed or voided; only signed ones amended... =======


def test_only_drafts_can_be_revised_signed_or_voided(leased: Ledger) -> None:
    revised = assert_rejected(
        leased, c.ReviseDraft(contract_id=LEASE, title="Colossus 1"), "contract_state"
    )
    signed = assert_rejected(leased, sign_command(), "contract_state")
    voided = assert_rejected(
        leased, c.VoidContract(contract_id=LEASE, reason=REASON), "contract_state"
    )
    assert [v.detail for v in (revised, signed, voided)] == [
        f"cannot {verb} contract {LEASE}: only drafts can be {done}"
        for verb, done in (("revise", "revised"), ("sign", "signed"), ("void", "voided"))
    ]


def test_a_voided_contract_can_be_neither_revised_signed_nor_voided_again(
    colossus: Ledger,
) -> None:
    run(colossus, draft_command())
    run(colossus, c.VoidContract(contract_id=LEASE, reason="orbital option not pursued"))

    assert_rejected(colossus, c.ReviseDraft(contract_id=LEASE, title="again"), "contract_state")
    assert_rejected(colossus, sign_command(), "contract_state")
    assert_rejected(colossus, c.VoidContract(contract_id=LEASE, reason=REASON), "contract_state")
    assert_rejected(colossus, allocation(1, utc(2027, 1, 1)), "contract_state")


def test_a_draft_can_be_neither_amended_allocated_nor_terminated(colossus: Ledger) -> None:
    run(colossus, draft_command())

    assert_rejected(colossus, amendment(utc(2027, 1, 1), gpus=100_000), "contract_state")
    assert_rejected(colossus, allocation(1, utc(2027, 1, 1)), "contract_state")
    assert_rejected(colossus, terminate(utc(2027, 1, 1)), "contract_state")


def test_a_terminated_contract_can_be_neither_amended_allocated_terminated_nor_resized(
    leased: Ledger,
) -> None:
    training = allocate(leased, 100_000, utc(2027, 1, 1), workload="training")
    run(leased, terminate(utc(2027, 6, 1)))

    assert_rejected(leased, amendment(utc(2027, 2, 1), gpus=100_000), "contract_state")
    assert_rejected(leased, allocation(1, utc(2027, 2, 1)), "contract_state")
    assert_rejected(leased, terminate(utc(2027, 3, 1)), "contract_state")
    assert_rejected(leased, resize(training, 50_000, utc(2027, 2, 1)), "contract_state")
    assert_rejected(leased, release(training, utc(2027, 2, 1)), "contract_state")
    assert_rejected(leased, c.ReviseDraft(contract_id=LEASE, title="again"), "contract_state")


def test_a_released_allocation_can_be_neither_resized_nor_released_again(leased: Ledger) -> None:
    training = allocate(leased, 100_000, utc(2027, 1, 1), workload="training")
    run(leased, release(training, utc(2027, 3, 1)))

    assert_rejected(leased, resize(training, 50_000, utc(2027, 4, 1)), "contract_state")
    assert_rejected(leased, release(training, utc(2027, 4, 1)), "contract_state")


def test_signing_moves_a_draft_into_force_over_its_whole_term(colossus: Ledger) -> None:
    run(colossus, draft_command())
    assert entitlement_or_none(colossus, utc(2026, 6, 1)) is None

    run(colossus, sign_command())

    assert entitlement(colossus, utc(2026, 6, 1)).contracted == 220_000
    assert entitlement(colossus, LEASE_END - TICK).contracted == 220_000
    assert entitlement_or_none(colossus, LEASE_END) is None


# == Invariant 3: per resource, allocations never exceed the contracted quantity ==============


def test_accepts_allocations_summing_to_exactly_the_contracted_quantity(leased: Ledger) -> None:
    allocate(leased, 150_000, utc(2027, 1, 1), workload="training")
    allocate(leased, 70_000, utc(2027, 1, 1), workload="claude-code")

    assert entitlement(leased, utc(2027, 1, 1)).model_dump(
        include={"contracted", "allocated", "unallocated"}
    ) == {
        "contracted": 220_000,
        "allocated": 220_000,
        "unallocated": 0,
    }


def test_rejects_allocation_beyond_contract_by_one_gpu(leased: Ledger) -> None:
    allocate(leased, 150_000, utc(2027, 1, 1), workload="training")
    allocate(leased, 70_000, utc(2027, 1, 1), workload="claude-code")

    violation = assert_rejected(
        leased,
        allocation(1, utc(2027, 2, 1), workload="api-opus"),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2027, 2, 1),
    )
    assert LEASE in violation.detail


def test_rejects_allocation_beyond_contract_by_a_thousandth_of_a_megawatt(leased: Ledger) -> None:
    allocate(leased, "299.999", utc(2027, 1, 1), resource=POWER, workload="training")
    allocate(leased, "0.001", utc(2027, 1, 1), resource=POWER, workload="claude-code")

    assert_rejected(
        leased,
        allocation("0.001", utc(2027, 1, 1), resource=POWER, workload="api-opus"),
        "allocation_exceeds_contract",
        resource=POWER,
        at=utc(2027, 1, 1),
    )
    assert entitlement(leased, utc(2027, 1, 1), POWER).unallocated == 0


def test_rejects_allocating_a_resource_the_contract_does_not_name(leased: Ledger) -> None:
    assert_rejected(
        leased,
        allocation(1, utc(2027, 1, 1), resource=GB200),
        "allocation_exceeds_contract",
        resource=GB200,
        at=utc(2027, 1, 1),
    )


def test_an_allocation_before_the_term_counts_only_from_the_term_start(gpu_only: Ledger) -> None:
    start = utc(2027, 1, 1)
    lease(gpu_only, start=start, end=utc(2028, 1, 1), gpus=100_000, power=None)

    assert_rejected(
        gpu_only,
        allocation(100_001, utc(2026, 12, 1)),
        "allocation_exceeds_contract",
        resource=H100,
        at=start,
    )
    allocate(gpu_only, 100_000, utc(2026, 12, 1))


def test_a_future_amendment_cannot_lower_capacity_below_an_allocation_that_starts_later(
    leased: Ledger,
) -> None:
    allocate(leased, 200_000, utc(2027, 9, 1), workload="training")

    assert_rejected(
        leased,
        amendment(utc(2027, 3, 1), gpus=199_999),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2027, 9, 1),
    )
    run(leased, amendment(utc(2027, 3, 1), gpus=200_000))

    assert entitlement(leased, utc(2027, 9, 1)).unallocated == 0


def test_an_amendment_leaves_the_resources_it_does_not_name_alone(leased: Ledger) -> None:
    allocate(leased, 220_000, utc(2027, 1, 1), workload="training")

    run(leased, amendment(utc(2027, 1, 1), power=250))

    assert entitlement(leased, utc(2027, 2, 1)).contracted == 220_000
    assert entitlement(leased, utc(2027, 2, 1), POWER).contracted == 250
    assert_rejected(
        leased,
        amendment(utc(2027, 6, 1), gpus=219_999, power=300),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2027, 6, 1),
    )


def test_of_two_amendments_effective_at_the_same_instant_the_later_recorded_wins(
    leased: Ledger,
) -> None:
    run(leased, amendment(utc(2027, 1, 1), gpus=200_000))
    run(leased, amendment(utc(2027, 1, 1), gpus=210_000))

    assert contracted_gpus(leased, utc(2027, 1, 1)) == 210_000
    allocate(leased, 210_000, utc(2027, 1, 1))
    assert_rejected(
        leased,
        amendment(utc(2027, 1, 1), gpus=200_000),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2027, 1, 1),
    )


def test_a_backdated_amendment_changes_only_the_span_up_to_the_next_later_amendment(
    leased: Ledger,
) -> None:
    allocate(leased, 150_000, utc(2026, 6, 1), until=utc(2027, 3, 1), workload="training")
    run(leased, amendment(utc(2027, 3, 1), gpus=100_000))

    # 150,000 from 1 September fits: the March amendment takes over before the allocation ends.
    run(leased, amendment(utc(2026, 9, 1), gpus=150_000))
    # One GPU fewer from 1 August breaks at once.
    assert_rejected(
        leased,
        amendment(utc(2026, 8, 1), gpus=149_999),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2026, 8, 1),
    )

    assert [
        contracted_gpus(leased, as_of)
        for as_of in (utc(2026, 7, 1), utc(2026, 10, 1), utc(2027, 6, 1))
    ] == [220_000, 150_000, 100_000]


def test_rejects_a_backdated_allocation_overlapping_an_existing_one_on_part_of_its_span(
    leased: Ledger,
) -> None:
    allocate(leased, 150_000, utc(2026, 7, 1), until=utc(2026, 9, 1), workload="training")
    # 70,000 from June to mid-July: over the overlap the two sum to exactly 220,000.
    allocate(leased, 70_000, utc(2026, 6, 1), until=utc(2026, 7, 15), workload="claude-code")

    # One more GPU from mid-June breaks only where all three overlap, from 1 July.
    assert_rejected(
        leased,
        allocation(1, utc(2026, 6, 15), until=utc(2026, 8, 1), workload="api-opus"),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2026, 7, 1),
    )
    allocate(leased, 1, utc(2026, 7, 15), until=utc(2026, 8, 1), workload="api-opus")
    allocate(leased, 1, utc(2026, 6, 15), until=utc(2026, 7, 1), workload="api-sonnet")


def test_a_backdated_resize_is_checked_against_allocations_that_start_later(
    leased: Ledger,
) -> None:
    training = allocate(leased, 100_000, utc(2026, 6, 1), workload="training")
    allocate(leased, 120_000, utc(2026, 8, 1), until=utc(2026, 10, 1), workload="claude-code")

    # Effective 1 July, but it first breaks on 1 August, when claude-code joins.
    assert_rejected(
        leased,
        resize(training, 100_001, utc(2026, 7, 1)),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2026, 8, 1),
    )
    assert_rejected(
        leased,
        resize(training, 220_000, utc(2026, 10, 1) - TICK),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2026, 10, 1) - TICK,
    )
    run(leased, resize(training, 220_000, utc(2026, 10, 1)))

    assert entitlement(leased, utc(2026, 10, 1)).allocated == 220_000


def test_an_allocation_until_frees_its_quantity_from_that_instant(leased: Ledger) -> None:
    allocate(leased, 220_000, utc(2027, 1, 1), until=utc(2027, 4, 1), workload="training")

    assert_rejected(
        leased,
        allocation(220_000, utc(2027, 4, 1) - TICK),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2027, 4, 1) - TICK,
    )
    allocate(leased, 220_000, utc(2027, 4, 1))


def test_releasing_an_allocation_frees_its_quantity_from_the_release_on(leased: Ledger) -> None:
    training = allocate(leased, 220_000, utc(2027, 1, 1), workload="training")
    run(leased, release(training, utc(2027, 6, 1)))

    assert_rejected(
        leased,
        allocation(1, utc(2027, 6, 1) - TICK),
        "allocation_exceeds_contract",
        resource=H100,
        at=utc(2027, 6, 1) - TICK,
    )
    allocate(leased, 220_000, utc(2027, 6, 1))


def test_a_termination_ends_the_entitlement_and_its_allocations_at_its_effective_instant(
    leased: Ledger,
) -> None:
    allocate(leased, 100_000, utc(2027, 1, 1), workload="training")

    run(leased, terminate(utc(2027, 6, 1)))

    assert entitlement(leased, utc(2027, 6, 1) - TICK).model_dump(
        include={"contracted", "allocated"}
    ) == {"contracted": 220_000, "allocated": 100_000}
    assert entitlement_or_none(leased, utc(2027, 6, 1)) is None
    assert facility_resource(leased, utc(2027, 6, 1)).reserved == 0


def test_a_release_ends_an_allocation_even_before_a_scheduled_resize(leased: Ledger) -> None:
    training = allocate(leased, 100_000, utc(2027, 1, 1), workload="training")
    run(leased, resize(training, 150_000, utc(2027, 6, 1)))

    run(leased, release(training, utc(2027, 3, 1)))

    assert entitlement(leased, utc(2027, 7, 1)).allocated == 0
    allocate(leased, 220_000, utc(2027, 7, 1), workload="claude-code")


# == Invariant 4: per resource, reservations at a facility never exceed its capacity ==========


def test_accepts_two_contracts_that_fill_the_facility_where_their_terms_partly_overlap(
    gpu_only: Ledger,
) -> None:
    lease(
        gpu_only, "first-half", start=utc(2027, 1, 1), end=utc(2027, 7, 1), gpus=120_000, power=None
    )
    lease(
        gpu_only,
        "second-half",
        start=utc(2027, 3, 1),
        end=utc(2027, 12, 1),
        gpus=100_000,
        power=None,
    )

    assert facility_resource(gpu_only, utc(2027, 3, 1)).model_dump(
        include={"capacity", "reserved", "free"}
    ) == {"capacity": 220_000, "reserved": 220_000, "free": 0}


def test_rejects_a_second_contract_one_gpu_past_capacity_where_terms_partly_overlap(
    gpu_only: Ledger,
) -> None:
    lease(
        gpu_only, "first-half", start=utc(2027, 1, 1), end=utc(2027, 7, 1), gpus=120_000, power=None
    )
    run(
        gpu_only,
        draft_command(
            "second-half", start=utc(2027, 3, 1), end=utc(2027, 12, 1), gpus=100_001, power=None
        ),
    )

    violation = assert_rejected(
        gpu_only,
        sign_command("second-half"),
        "facility_overcommitted",
        resource=H100,
        at=utc(2027, 3, 1),
    )
    assert "colossus-1" in violation.detail
    with gpu_only.read() as conn:
        assert read.contract(conn, "second-half", utc(2027, 3, 1)).status == "draft"


def test_contracts_back_to_back_do_not_overlap(gpu_only: Ledger) -> None:
    handover = utc(2027, 7, 1)
    lease(gpu_only, "first-half", start=utc(2027, 1, 1), end=handover, power=None)
    run(
        gpu_only,
        draft_command("one-tick-early", start=handover - TICK, end=utc(2028, 1, 1), power=None),
    )
    run(gpu_only, draft_command("second-half", start=handover, end=utc(2028, 1, 1), power=None))

    assert_rejected(
        gpu_only,
        sign_command("one-tick-early"),
        "facility_overcommitted",
        resource=H100,
        at=handover - TICK,
    )
    run(gpu_only, sign_command("second-half"))


def test_a_draft_reserves_nothing_and_may_exceed_the_facility_until_it_is_signed(
    gpu_only: Ledger,
) -> None:
    run(gpu_only, draft_command("orbital-option", gpus=1_000_000, power=None))
    lease(gpu_only, power=None)

    assert_rejected(
        gpu_only,
        sign_command("orbital-option"),
        "facility_overcommitted",
        resource=H100,
        at=LEASE_START,
    )


def test_a_voided_draft_never_reserves_capacity(gpu_only: Ledger) -> None:
    run(gpu_only, draft_command("orbital-option", power=None))
    run(gpu_only, c.VoidContract(contract_id="orbital-option", reason="not pursued"))

    lease(gpu_only, power=None)


def test_rejects_a_future_facility_reduction_that_would_overcommit_a_signed_contract_later_in_its_term(
    leased: Ledger,
) -> None:
    assert_rejected(
        leased,
        facility_change(200_000, utc(2027, 1, 1)),
        "facility_overcommitted",
        resource=H100,
        at=utc(2027, 1, 1),
    )
    assert_rejected(
        leased,
        facility_change(200_000, LEASE_END - TICK),
        "facility_overcommitted",
        resource=H100,
        at=LEASE_END - TICK,
    )
    run(leased, facility_change(200_000, LEASE_END))

    assert facility_resource(leased, LEASE_END).capacity == 200_000


def test_a_backdated_facility_change_holds_only_up_to_the_next_later_change(
    leased: Ledger,
) -> None:
    run(leased, facility_change(250_000, utc(2027, 1, 1)))

    assert_rejected(
        leased,
        facility_change(219_999, utc(2026, 6, 1)),
        "facility_overcommitted",
        resource=H100,
        at=utc(2026, 6, 1),
    )
    run(leased, facility_change(220_000, utc(2026, 6, 1)))

    assert facility_resource(leased, utc(2026, 7, 1)).capacity == 220_000
    assert facility_resource(leased, utc(2027, 2, 1)).capacity == 250_000


def test_a_facility_reduction_before_a_contract_starts_breaks_at_the_contract_start(
    gpu_only: Ledger,
) -> None:
    lease(gpu_only, start=utc(2027, 6, 1), end=utc(2028, 6, 1), gpus=200_000, power=None)

    assert_rejected(
        gpu_only,
        facility_change(199_999, utc(2027, 1, 1)),
        "facility_overcommitted",
        resource=H100,
        at=utc(2027, 6, 1),
    )
    run(gpu_only, facility_change(200_000, utc(2027, 1, 1)))


def test_a_facility_reduction_may_follow_a_capacity_amendment(leased: Ledger) -> None:
    run(leased, amendment(utc(2027, 1, 1), gpus=200_000))

    assert_rejected(
        leased,
        facility_change(199_999, utc(2027, 1, 1)),
        "facility_overcommitted",
        resource=H100,
        at=utc(2027, 1, 1),
    )
    run(leased, facility_change(200_000, utc(2027, 1, 1)))


def test_rejects_an_amendment_that_raises_capacity_past_the_facility(gpu_only: Ledger) -> None:
    lease(
        gpu_only, "first-half", start=utc(2027, 1, 1), end=utc(2027, 7, 1), gpus=120_000, power=None
    )
    lease(
        gpu_only,
        "second-half",
        start=utc(2027, 3, 1),
        end=utc(2027, 12, 1),
        gpus=100_000,
        power=None,
    )

    # Effective in February, it first breaks when the second contract starts.
    assert_rejected(
        gpu_only,
        amendment(utc(2027, 2, 1), gpus=120_001, contract_id="first-half"),
        "facility_overcommitted",
        resource=H100,
        at=utc(2027, 3, 1),
    )
    run(gpu_only, amendment(utc(2027, 3, 1), gpus=99_999, contract_id="second-half"))
    run(gpu_only, amendment(utc(2027, 2, 1), gpus=120_001, contract_id="first-half"))

    assert facility_resource(gpu_only, utc(2027, 3, 1)).free == 0


def test_rejects_an_amendment_extending_the_term_into_a_later_contract(gpu_only: Ledger) -> None:
    handover = utc(2027, 7, 1)
    lease(gpu_only, "first-half", start=utc(2027, 1, 1), end=handover, power=None)
    lease(gpu_only, "second-half", start=handover, end=utc(2028, 1, 1), power=None)

    assert_rejected(
        gpu_only,
        amendment(utc(2027, 2, 1), term_end=handover + TICK, contract_id="first-half"),
        "facility_overcommitted",
        resource=H100,
        at=handover,
    )
    run(gpu_only, amendment(utc(2027, 2, 1), term_end=handover, contract_id="first-half"))


def test_terminating_a_contract_frees_the_facility_from_the_termination_on(
    gpu_only: Ledger,
) -> None:
    lease(gpu_only, "first", start=utc(2027, 1, 1), end=utc(2028, 1, 1), power=None)
    run(gpu_only, terminate(utc(2027, 6, 1), contract_id="first"))
    run(
        gpu_only,
        draft_command("early", start=utc(2027, 6, 1) - TICK, end=utc(2028, 1, 1), power=None),
    )
    run(gpu_only, draft_command("second", start=utc(2027, 6, 1), end=utc(2028, 1, 1), power=None))

    assert_rejected(
        gpu_only,
        sign_command("early"),
        "facility_overcommitted",
        resource=H100,
        at=utc(2027, 6, 1) - TICK,
    )
    run(gpu_only, sign_command("second"))


def test_rejects_a_contract_that_starts_before_the_facility_came_into_service(
    gpu_only: Ledger,
) -> None:
    run(gpu_only, draft_command(start=IN_SERVICE - TICK, end=utc(2026, 6, 1), power=None))

    assert_rejected(
        gpu_only, sign_command(), "facility_overcommitted", resource=H100, at=IN_SERVICE - TICK
    )
    run(
        gpu_only, c.ReviseDraft(contract_id=LEASE, term=Term(start=IN_SERVICE, end=utc(2026, 6, 1)))
    )
    run(gpu_only, sign_command())


def test_rejects_reserving_a_resource_the_facility_does_not_have(colossus: Ledger) -> None:
    run(
        colossus,
        c.DraftContract(
            contract_id="blackwell",
            provider="spacex",
            tenant="anthropic",
            facility="colossus-1",
            title="GB200 lease",
            term=Term(start=utc(2027, 1, 1), end=utc(2028, 1, 1)),
            capacity=(line(GB200, 1),),
        ),
    )

    assert_rejected(
        colossus,
        sign_command("blackwell"),
        "facility_overcommitted",
        resource=GB200,
        at=utc(2027, 1, 1),
    )


def test_signing_appends_to_the_contract_and_the_facility_atomically(colossus: Ledger) -> None:
    run(colossus, draft_command())
    before = colossus.head().position

    outcome = run(colossus, sign_command())

    assert [(e.stream_id, e.type, e.position) for e in outcome.events] == [
        (f"contract-{LEASE}", "ContractSigned", before + 1),
        ("facility-colossus-1", "CapacityReserved", before + 2),
    ]
    assert colossus.verify().ok


# == Invariant 5: a contract's provider is its facility's provider ============================


def test_rejects_a_contract_whose_provider_does_not_own_the_facility(colossus: Ledger) -> None:
    register_oracle_abilene(colossus)

    violation = assert_rejected(
        colossus, draft_command(facility="abilene-1", gpus=100_000, power=None), "provider_mismatch"
    )
    assert "oracle" in violation.detail


def test_rejects_revising_a_draft_onto_another_providers_facility(colossus: Ledger) -> None:
    register_oracle_abilene(colossus)
    run(colossus, draft_command(gpus=100_000, power=None))

    assert_rejected(
        colossus, c.ReviseDraft(contract_id=LEASE, facility="abilene-1"), "provider_mismatch"
    )
    assert_rejected(
        colossus, c.ReviseDraft(contract_id=LEASE, provider="oracle"), "provider_mismatch"
    )
    run(colossus, c.ReviseDraft(contract_id=LEASE, provider="oracle", facility="abilene-1"))
    run(colossus, sign_command())


# == Invariant 6: limit values are >= 0 or unlimited; scale factors are > 0 ===================


def test_sets_a_limit_from_its_effective_instant(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))

    assert limit_value(leased, utc(2027, 1, 1) - TICK) is None
    assert limit_value(leased, utc(2027, 1, 1)) == 1000


def test_accepts_a_zero_limit_and_rejects_a_negative_one(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=0))

    assert_rejected(
        leased,
        limit_change("set", utc(2027, 2, 1), value="-0.001"),
        "limit_invalid",
        at=utc(2027, 2, 1),
    )
    assert limit_value(leased, utc(2027, 2, 1)) == 0


def test_scale_records_the_factor_and_the_resulting_value(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))

    outcome = run(leased, limit_change("scale", utc(2027, 2, 1), factor=2))

    assert payload(outcome) == {
        "plan": PLAN,
        "limit": RATE,
        "operation": "scale",
        "factor": "2",
        "value": "2000",
        "unlimited": False,
        "until": None,
    }
    assert (
        outcome.events[0].metadata_dict()["reason"]
        == "doubling Claude Code rate limits on paid plans"
    )
    assert limit_value(leased, utc(2027, 2, 1) - TICK) == 1000
    assert limit_value(leased, utc(2027, 2, 1)) == 2000


def test_rejects_scale_factors_that_are_not_positive(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))

    for factor in ("0", "-2"):
        assert_rejected(
            leased,
            limit_change("scale", utc(2027, 2, 1), factor=factor),
            "limit_invalid",
            at=utc(2027, 2, 1),
        )
    outcome = run(leased, limit_change("scale", utc(2027, 2, 1), factor="0.001"))
    assert (payload(outcome)["factor"], payload(outcome)["value"]) == ("0.001", "1")


def test_rejects_scaling_a_limit_when_nothing_is_in_force(leased: Ledger) -> None:
    assert_rejected(
        leased,
        limit_change("scale", utc(2027, 1, 1), factor=2),
        "limit_invalid",
        at=utc(2027, 1, 1),
    )
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000, until=utc(2027, 2, 1)))

    assert_rejected(
        leased,
        limit_change("scale", utc(2027, 1, 1) - TICK, factor=2),
        "limit_invalid",
        at=utc(2027, 1, 1) - TICK,
    )
    assert_rejected(
        leased,
        limit_change("scale", utc(2027, 2, 1), factor=2),
        "limit_invalid",
        at=utc(2027, 2, 1),
    )
    run(leased, limit_change("scale", utc(2027, 2, 1) - TICK, factor=2))


def test_remove_makes_a_limit_unlimited_and_scaling_unlimited_keeps_it_so(leased: Ledger) -> None:
    peak = "claude-code.peak-hour-cap"
    run(leased, limit_change("set", utc(2027, 1, 1), value=50, limit=peak))

    removed = run(
        leased, limit_change("remove", utc(2027, 2, 1), limit=peak, reason="no peak-hour caps")
    )
    scaled = run(leased, limit_change("scale", utc(2027, 3, 1), factor=2, limit=peak))

    assert (payload(removed).get("value"), payload(removed)["unlimited"]) == (None, True)
    assert (payload(scaled).get("value"), payload(scaled)["unlimited"]) == (None, True)
    assert payload(scaled)["factor"] == "2"
    assert limit_value(leased, utc(2027, 1, 15), limit=peak) == 50
    assert limit_value(leased, utc(2027, 2, 1), limit=peak) == "unlimited"
    assert limit_value(leased, utc(2027, 4, 1), limit=peak) == "unlimited"


def test_a_temporary_limit_change_reverts_to_the_previous_value_afterwards(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))
    before_the_boost = leased.head().position
    run(leased, limit_change("scale", utc(2027, 2, 1), factor=2, until=utc(2027, 3, 1)))

    assert limit_value(leased, utc(2027, 2, 1)) == 2000
    assert limit_value(leased, utc(2027, 3, 1) - TICK) == 2000
    assert limit_value(leased, utc(2027, 3, 1)) == 1000
    assert limit_value(leased, utc(2027, 9, 1)) == 1000
    assert limit_value(leased, utc(2027, 2, 15), known_at=before_the_boost) == 1000
    with leased.read() as conn:
        [boost] = read.limits(conn, "anthropic", utc(2027, 2, 15))
    assert (boost.effective_since, boost.until) == (utc(2027, 2, 1), utc(2027, 3, 1))


def test_nested_temporary_limit_changes_revert_to_the_outer_one(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))
    run(leased, limit_change("set", utc(2027, 2, 1), value=3000, until=utc(2027, 5, 1)))
    run(leased, limit_change("set", utc(2027, 3, 1), value=5000, until=utc(2027, 4, 1)))

    assert [
        limit_value(leased, as_of)
        for as_of in (
            utc(2027, 1, 15),
            utc(2027, 2, 15),
            utc(2027, 3, 15),
            utc(2027, 4, 15),
            utc(2027, 5, 15),
        )
    ] == [1000, 3000, 5000, 3000, 1000]


def test_a_temporary_removal_reverts_to_the_previous_limit(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))
    run(leased, limit_change("remove", utc(2027, 2, 1), until=utc(2027, 3, 1)))

    assert limit_value(leased, utc(2027, 2, 1)) == "unlimited"
    assert limit_value(leased, utc(2027, 3, 1)) == 1000


def test_a_scale_keeps_the_value_it_produced_when_its_base_is_corrected_later(
    leased: Ledger,
) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))
    run(leased, limit_change("scale", utc(2027, 3, 1), factor=2))

    run(leased, limit_change("set", utc(2027, 2, 1), value=1500, reason="correcting the base"))

    assert limit_value(leased, utc(2027, 2, 15)) == 1500
    assert limit_value(leased, utc(2027, 3, 15)) == 2000


def test_a_backdated_limit_change_is_seen_only_as_known_after_it(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2026, 6, 1), value=1000))
    known_before = leased.head().position
    run(leased, limit_change("set", utc(2026, 8, 1), value=2000, reason="backdated raise"))

    assert limit_value(leased, utc(2026, 9, 1), known_at=known_before) == 1000
    assert limit_value(leased, utc(2026, 9, 1)) == 2000


@pytest.mark.parametrize(
    ("operation", "value", "factor"),
    [
        ("set", None, None),
        ("set", 1000, 2),
        ("scale", None, None),
        ("scale", 1000, 2),
        ("remove", 1000, None),
        ("remove", None, 2),
    ],
)
def test_rejects_limit_operations_with_the_wrong_arguments(
    leased: Ledger, operation: str, value: int | None, factor: int | None
) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))

    assert_refused(
        leased, limit_change(operation, utc(2027, 2, 1), value=value, factor=factor), InvalidInput
    )


def test_only_tenants_have_limits(leased: Ledger) -> None:
    assert_rejected(
        leased, limit_change("set", utc(2027, 1, 1), value=1, tenant="spacex"), "party_role"
    )
    refusal = assert_refused(
        leased, limit_change("set", utc(2027, 1, 1), value=1, tenant="openai"), NotFound
    )
    assert (refusal.kind, refusal.identifier) == ("party", "openai")


# == Closed periods ===========================================================================


def test_rejects_a_change_effective_before_the_closed_through_instant(leased: Ledger) -> None:
    through = utc(2026, 7, 1)
    close_books(leased, through)

    assert_rejected(leased, allocation(1, through - TICK), "period_closed", at=through - TICK)
    allocate(leased, 1, through)


def test_a_contract_command_reads_the_tenants_books_not_its_whole_stream(
    leased: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):  # a limit history the contract command has no need to fold
        run(leased, limit_change("set", utc(2026, 5, 6 + n), value=100 + n))
    close_books(leased, utc(2026, 7, 1))
    reads = count_stream_reads(monkeypatch)
    assert_rejected(leased, allocation(1, utc(2026, 6, 30)), "period_closed", at=utc(2026, 6, 30))
    allocate(leased, 1, utc(2026, 7, 1))
    monkeypatch.undo()

    assert f"contract-{LEASE}" in reads  # the counting works
    assert "party-anthropic" not in reads


def test_reopening_a_period_accepts_the_change_again(leased: Ledger) -> None:
    close_books(leased, utc(2026, 9, 1))
    assert_rejected(leased, allocation(1, utc(2026, 8, 1)), "period_closed", at=utc(2026, 8, 1))

    assert_needs_reason(leased, c.ReopenPeriod(tenant="anthropic", through=utc(2026, 7, 1)))
    outcome = run(
        leased,
        c.ReopenPeriod(tenant="anthropic", through=utc(2026, 7, 1), reason="re-billing August"),
    )

    assert outcome.events[0].type == "PeriodReopened"
    allocate(leased, 1, utc(2026, 8, 1))
    assert_rejected(leased, allocation(1, utc(2026, 6, 30)), "period_closed", at=utc(2026, 6, 30))


def test_rejects_signing_a_contract_whose_term_starts_inside_a_closed_period(
    gpu_only: Ledger,
) -> None:
    through = utc(2026, 6, 1)
    close_books(gpu_only, through)
    run(gpu_only, draft_command("early", start=through - TICK, end=utc(2027, 1, 1), power=None))
    run(gpu_only, draft_command("on-time", start=through, end=utc(2027, 1, 1), power=None))

    assert_rejected(gpu_only, sign_command("early"), "period_closed", at=through - TICK)
    run(gpu_only, sign_command("on-time"))


def test_a_closed_period_rejects_every_kind_of_change_effective_inside_it(leased: Ledger) -> None:
    training = allocate(leased, 100_000, utc(2026, 6, 1), workload="training")
    run(leased, limit_change("set", utc(2026, 6, 1), value=1000))
    through = utc(2026, 9, 1)
    close_books(leased, through)
    inside = utc(2026, 8, 1)

    for command in (
        amendment(inside, gpus=200_000),
        terminate(inside),
        resize(training, 50_000, inside),
        release(training, inside),
        limit_change("set", inside, value=2000),
        limit_change("scale", inside, factor=2),
        limit_change("remove", inside),
    ):
        assert_rejected(leased, command, "period_closed", at=inside)
    # A term cut short into the closed period is rejected from its new end, whenever effective.
    assert_rejected(leased, amendment(utc(2027, 1, 1), term_end=inside), "period_closed", at=inside)
    for command in (
        amendment(through, gpus=200_000),
        resize(training, 50_000, through),
        limit_change("set", through, value=2000),
        terminate(through),
    ):
        run(leased, command)


def test_the_books_can_be_closed_only_forward_and_reopened_only_backward(leased: Ledger) -> None:
    close_books(leased, utc(2026, 9, 1))

    for through in (utc(2026, 9, 1), utc(2026, 8, 1)):
        assert_rejected(
            leased,
            c.ClosePeriod(tenant="anthropic", through=through, reason="invoiced"),
            "period_closed",
            at=through,
        )
    for through in (utc(2026, 9, 1), utc(2026, 10, 1)):
        assert_rejected(
            leased,
            c.ReopenPeriod(tenant="anthropic", through=through, reason="re-bill"),
            "period_closed",
            at=through,
        )
    close_books(leased, utc(2026, 9, 1) + TICK)


def test_only_a_tenants_books_can_be_closed(leased: Ledger) -> None:
    assert_rejected(leased, c.ClosePeriod(tenant="spacex", through=utc(2026, 9, 1)), "party_role")


# == already_exists ===========================================================================


def test_rejects_registering_a_party_or_facility_twice(colossus: Ledger) -> None:
    assert_rejected(
        colossus,
        c.RegisterParty(party_id="spacex", name="SpaceX", roles=("provider",)),
        "already_exists",
    )
    assert_rejected(
        colossus,
        c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis",
            capacity=lines(1),
        ),
        "already_exists",
    )


def test_rejects_reusing_a_contract_allocation_or_amendment_id(leased: Ledger) -> None:
    allocate(leased, 1, utc(2027, 1, 1), allocation_id="claude-code-1")
    run(leased, amendment(utc(2027, 1, 1), power=250, amendment_id="amd-power"))

    assert_rejected(leased, draft_command(), "already_exists")
    assert_rejected(
        leased, allocation(1, utc(2027, 2, 1), allocation_id="claude-code-1"), "already_exists"
    )
    assert_rejected(
        leased, amendment(utc(2027, 2, 1), power=200, amendment_id="amd-power"), "already_exists"
    )


def test_generates_prefixed_ids_unless_the_caller_supplies_one(colossus: Ledger) -> None:
    contract_id = run(colossus, draft_command(contract_id=None)).result["contract_id"]
    run(colossus, sign_command(contract_id))

    allocated = run(colossus, allocation(1, utc(2027, 1, 1), contract_id=contract_id)).result
    amended = run(colossus, amendment(utc(2027, 1, 1), power=250, contract_id=contract_id)).result

    assert contract_id.startswith("ctr_")
    assert allocated["allocation_id"].startswith("alc_")
    assert amended["amendment_id"].startswith("amd_")


# == party_role ===============================================================================


def test_rejects_parties_in_the_wrong_role(colossus: Ledger) -> None:
    assert_rejected(colossus, draft_command(tenant="spacex"), "party_role")
    assert_rejected(colossus, draft_command(provider="anthropic"), "party_role")
    assert_rejected(
        colossus,
        c.RegisterFacility(
            facility_id="anthropic-dc",
            provider="anthropic",
            name="Anthropic DC",
            location="Nowhere",
            capacity=lines(1),
        ),
        "party_role",
    )
    run(colossus, draft_command())


def test_a_drafts_tenant_is_fixed(colossus: Ledger) -> None:
    """Revising it would move the draft's stream between two tenants' feeds, one of which
    had already read past its first events (see `revise_draft`)."""
    run(colossus, c.RegisterParty(party_id="openai", name="OpenAI", roles=("tenant",)))
    run(colossus, draft_command())
    refusal = assert_refused(
        colossus, c.ReviseDraft(contract_id=LEASE, tenant="openai"), InvalidInput
    )
    assert [e.loc for e in refusal.errors] == [("tenant",)]
    run(colossus, c.ReviseDraft(contract_id=LEASE, tenant="anthropic", title="same tenant"))


# == NotFound =================================================================================


def test_commands_on_unknown_contracts_are_not_found(colossus: Ledger) -> None:
    for command in (
        sign_command("ghost"),
        c.ReviseDraft(contract_id="ghost", title="x"),
        c.VoidContract(contract_id="ghost", reason=REASON),
        amendment(utc(2027, 1, 1), gpus=1, contract_id="ghost"),
        terminate(utc(2027, 1, 1), contract_id="ghost"),
        allocation(1, utc(2027, 1, 1), contract_id="ghost"),
    ):
        refusal = assert_refused(colossus, command, NotFound)
        assert (refusal.kind, refusal.identifier) == ("contract", "ghost")


def test_commands_on_unknown_allocations_are_not_found(leased: Ledger) -> None:
    for command in (resize("ghost", 1, utc(2027, 1, 1)), release("ghost", utc(2027, 1, 1))):
        refusal = assert_refused(leased, command, NotFound)
        assert (refusal.kind, refusal.identifier) == ("allocation", "ghost")


def test_drafting_against_unknown_parties_or_facilities_is_not_found(colossus: Ledger) -> None:
    for command, kind, identifier in (
        (draft_command(tenant="openai"), "party", "openai"),
        (draft_command(provider="oracle"), "party", "oracle"),
        (draft_command(facility="stargate-1"), "facility", "stargate-1"),
        (
            facility_change(1, utc(2027, 1, 1)).model_copy(update={"facility_id": "stargate-1"}),
            "facility",
            "stargate-1",
        ),
        (
            c.RegisterFacility(
                facility_id="abilene-1",
                provider="oracle",
                name="Abilene 1",
                location="Abilene",
                capacity=lines(1),
            ),
            "party",
            "oracle",
        ),
    ):
        refusal = assert_refused(colossus, command, NotFound)
        assert (refusal.kind, refusal.identifier) == (kind, identifier)


# == InvalidInput: missing reasons and bad arguments ==========================================


def test_amendments_terminations_voids_resizes_limit_changes_and_reopenings_need_a_reason(
    leased: Ledger,
) -> None:
    training = allocate(leased, 100_000, utc(2027, 1, 1), workload="training")
    run(leased, draft_command("orbital-option", gpus=0, power=None))
    close_books(leased, utc(2026, 6, 1))

    for reason in (None, "   "):
        for command in (
            amendment(utc(2027, 2, 1), gpus=200_000, reason=reason),
            terminate(utc(2027, 2, 1), reason=reason),
            c.VoidContract(contract_id="orbital-option", reason=reason),
            resize(training, 50_000, utc(2027, 2, 1), reason=reason),
            limit_change("set", utc(2027, 2, 1), value=1, reason=reason),
            c.ReopenPeriod(tenant="anthropic", through=utc(2026, 5, 1), reason=reason),
        ):
            assert_needs_reason(leased, command)


def test_backdated_changes_need_a_reason(leased: Ledger) -> None:
    training = allocate(leased, 100_000, utc(2026, 6, 1), workload="training")
    run(leased, draft_command("second", start=LEASE_END, end=utc(2029, 1, 1)))
    backdated = utc(2026, 7, 1)

    for command in (
        allocation(1, backdated, reason=None),
        release(training, backdated).model_copy(update={"reason": None}),
        facility_change(230_000, backdated, reason=None),
        sign_command("second", effective_at=backdated, reason=None),
    ):
        assert_needs_reason(leased, command)


def test_a_change_more_than_a_minute_in_the_past_is_backdated(leased: Ledger) -> None:
    now = utc(2026, 11, 1, 12)
    stopped = build_ledger(leased.engine, clock=lambda: now)
    one_minute_ago = now - timedelta(minutes=1)

    assert_needs_reason(stopped, allocation(1, one_minute_ago - TICK, reason=None))
    assert_needs_reason(stopped, facility_change(230_000, one_minute_ago - TICK, reason=None))
    run(stopped, allocation(1, one_minute_ago, reason=None))
    run(stopped, facility_change(230_000, one_minute_ago, reason=None))


def test_registering_a_facility_with_its_past_in_service_date_needs_no_reason(
    ledger: Ledger,
) -> None:
    """A registration is the first record of the facility, not a correction of it."""
    register_parties(ledger)

    outcome = execute(
        ledger,
        c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis",
            capacity=lines(220_000),
            effective_at=IN_SERVICE,
        ),
        Context(actor="ops", source="cli"),
    )

    with ledger.read() as conn:
        [event] = ledger.store.read_page(conn, outcome.position - 1, 1)
    assert (event.type, event.effective_at) == ("FacilityRegistered", IN_SERVICE)
    assert "reason" not in event.metadata_dict()


def test_rejects_allocations_and_resizes_that_are_not_positive(leased: Ledger) -> None:
    training = allocate(leased, 100_000, utc(2027, 1, 1), workload="training")

    for quantity in ("0", "-1"):
        assert_refused(leased, allocation(quantity, utc(2027, 2, 1)), InvalidInput)
        assert_refused(leased, resize(training, quantity, utc(2027, 2, 1)), InvalidInput)


def test_rejects_an_amendment_that_changes_nothing(leased: Ledger) -> None:
    assert_refused(leased, amendment(utc(2027, 1, 1)), InvalidInput)


def test_rejects_a_revision_that_changes_nothing(colossus: Ledger) -> None:
    run(colossus, draft_command())

    assert_refused(colossus, c.ReviseDraft(contract_id=LEASE), InvalidInput)


def test_rejects_capacity_lines_naming_a_resource_twice(leased: Ledger) -> None:
    twice = (line(H100, 1), line(H100, 2))

    refusal = assert_refused(
        leased, draft_command("second").model_copy(update={"capacity": twice}), InvalidInput
    )
    assert refusal.errors[0].loc == ("capacity", 1, "resource")
    assert_refused(
        leased, amendment(utc(2027, 1, 1)).model_copy(update={"capacity": twice}), InvalidInput
    )
    assert_refused(
        leased,
        facility_change(1, utc(2027, 1, 1)).model_copy(update={"capacity": twice}),
        InvalidInput,
    )


# == Dry runs =================================================================================


def test_a_dry_run_returns_the_planned_events_and_appends_nothing(colossus: Ledger) -> None:
    run(colossus, draft_command())
    before = colossus.head()

    outcome = run(colossus, sign_command(), dataclasses.replace(OPS, dry_run=True))

    assert [(e.stream_id, e.event.event_type) for e in outcome.planned] == [
        (f"contract-{LEASE}", "ContractSigned"),
        ("facility-colossus-1", "CapacityReserved"),
    ]
    assert isinstance(outcome, Planned)
    assert_nothing_written(colossus, before)
    with colossus.read() as conn:
        assert read.contract(conn, LEASE, LEASE_START).status == "draft"
    assert [e.type for e in run(colossus, sign_command()).events] == [
        "ContractSigned",
        "CapacityReserved",
    ]


def test_a_dry_run_renders_from_its_appended_events_then_rolls_back(colossus: Ledger) -> None:
    """One dry-run semantics: the events are appended as the write would append them, the
    answer is read from that state, and the transaction is rolled back."""
    run(colossus, draft_command())
    before = colossus.head()
    seen: list[tuple[str, int]] = []

    def render(conn: Any, accepted: Accepted) -> Answer:
        with colossus.read() as outside:  # another connection: nothing is committed
            seen.append(("outside", read.snapshot(outside).head_position))
        seen.append(("inside", read.snapshot(conn).head_position))
        return Answer(0, read.contract(conn, LEASE, LEASE_START).status.encode())

    outcome = execute(
        colossus, sign_command(), dataclasses.replace(OPS, dry_run=True), render=render
    )

    assert isinstance(outcome, Planned)
    assert outcome.answer == Answer(0, b"active")
    assert seen == [("outside", before.position), ("inside", before.position + 2)]
    assert_nothing_written(colossus, before)


def test_an_idempotent_command_needs_a_renderer(colossus: Ledger) -> None:
    before = colossus.head()
    keyed = dataclasses.replace(OPS, idempotency=IdempotencyRequest("s", "k", "f"))
    with pytest.raises(ValueError, match="needs a renderer"):
        execute(colossus, draft_command(), keyed)
    assert_nothing_written(colossus, before)


def test_a_dry_run_of_a_scale_plans_the_resulting_value(leased: Ledger) -> None:
    run(leased, limit_change("set", utc(2027, 1, 1), value=1000))
    before = leased.head()

    outcome = run(
        leased,
        limit_change("scale", utc(2027, 2, 1), factor=2),
        dataclasses.replace(OPS, dry_run=True),
    )

    [planned] = outcome.planned
    assert (planned.event.value, planned.event.factor, planned.effective_at) == (  # type: ignore[attr-defined]
        Decimal(2000),
        Decimal(2),
        utc(2027, 2, 1),
    )
    assert planned.metadata.reason == "doubling Claude Code rate limits on paid plans"
    assert_nothing_written(leased, before)
    assert limit_value(leased, utc(2027, 2, 1)) == 1000


def test_a_dry_run_that_breaks_a_rule_raises_the_same_violation(leased: Ledger) -> None:
    allocate(leased, 220_000, utc(2027, 1, 1), workload="training")
    command = amendment(utc(2027, 3, 1), gpus=219_999)
    before = leased.head()

    with pytest.raises(RuleViolation) as dry:
        run(leased, command, dataclasses.replace(OPS, dry_run=True))
    with pytest.raises(RuleViolation) as real:
        run(leased, command)

    assert (real.value.rule, real.value.resource, real.value.at) == (
        "allocation_exceeds_contract",
        H100,
        utc(2027, 3, 1),
    )
    assert (dry.value.rule, dry.value.resource, dry.value.at, dry.value.detail) == (
        real.value.rule,
        real.value.resource,
        real.value.at,
        real.value.detail,
    )
    assert_nothing_written(leased, before)


# == Pinned versions ==========================================================================


def test_a_pinned_version_that_moved_on_is_a_concurrency_error(leased: Ledger) -> None:
    with leased.read() as conn:
        version = read.contract(conn, LEASE, LEASE_START).version
    assert version == 2  # drafted, signed

    stale = Context(actor="ops@anthropic.com", source="api", expected_version=version - 1)
    for command in (
        allocation(1, utc(2027, 1, 1)),
        amendment(utc(2027, 1, 1), power=250),
        terminate(utc(2027, 1, 1)),
    ):
        conflict = assert_refused(leased, command, ConcurrencyError, ctx=stale)
        assert (conflict.stream_id, conflict.expected, conflict.actual) == (
            f"contract-{LEASE}",
            version - 1,
            version,
        )
    assert_refused(
        leased,
        allocation(1, utc(2027, 1, 1)),
        ConcurrencyError,
        ctx=dataclasses.replace(stale, dry_run=True),
    )

    pinned = dataclasses.replace(stale, expected_version=version)
    outcome = run(leased, allocation(1, utc(2027, 1, 1)), pinned)
    assert outcome.events[0].stream_version == version + 1
    assert_refused(leased, allocation(1, utc(2027, 2, 1)), ConcurrencyError, ctx=pinned)


def test_a_pinned_version_guards_signing_a_revised_draft(colossus: Ledger) -> None:
    run(colossus, draft_command())
    run(colossus, c.ReviseDraft(contract_id=LEASE, title="Colossus 1 lease, revised"))

    assert_refused(
        colossus, sign_command(), ConcurrencyError, ctx=dataclasses.replace(OPS, expected_version=1)
    )
    run(colossus, sign_command(), dataclasses.replace(OPS, expected_version=2))


def test_a_pinned_version_is_checked_before_the_rules(leased: Ledger) -> None:
    stale = dataclasses.replace(OPS, expected_version=1)

    assert_refused(leased, allocation(220_001, utc(2027, 1, 1)), ConcurrencyError, ctx=stale)


# == The inline projection starts from the command's own fold ==================================


def test_a_command_reads_its_contract_stream_once_and_projects_the_resize(
    leased: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = allocate(leased, 100_000, LEASE_START, workload="training")
    reads = count_stream_reads(monkeypatch)
    run(leased, resize(training, 60_000, utc(2027, 1, 1)))
    monkeypatch.undo()

    assert reads.count(f"contract-{LEASE}") == 1  # the handler's; the projection reused it
    with leased.read() as conn:
        before, after = (
            read.entitlements(conn, "anthropic", moment).capacity
            for moment in (utc(2026, 12, 31), utc(2027, 1, 1))
        )
    assert [(e.resource, e.allocated) for e in before if e.resource == H100] == [(H100, 100_000)]
    assert [(e.resource, e.allocated) for e in after if e.resource == H100] == [(H100, 60_000)]


def test_a_revision_cannot_both_set_and_clear_the_reference(colossus: Ledger) -> None:
    run(colossus, draft_command())
    head = colossus.head().position
    with pytest.raises(InvalidInput) as refused:
        execute(
            colossus,
            c.ReviseDraft(contract_id=LEASE, reference="PO-1", cleared=("reference",)),
            OPS,
        )
    assert [e.loc for e in refused.value.errors] == [("reference",)]
    assert colossus.head().position == head


def test_a_revision_recorded_before_cleared_existed_still_decodes() -> None:
    from ledger.domain.events import ContractDraftRevised, registry

    old = registry.decode("ContractDraftRevised", 1, '{"reference":"PO-1","title":"x"}')
    assert isinstance(old, ContractDraftRevised)
    assert (old.reference, old.cleared) == ("PO-1", ())
