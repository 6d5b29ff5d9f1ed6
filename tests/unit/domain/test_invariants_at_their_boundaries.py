"""Every invariant at its boundary, against the pure decide functions: accepted at it,
refused one unit past it, for future-dated, backdated and overlapping changes. No
database: the states are folded in memory (`world.World`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from ledger.domain import commands as c
from ledger.domain import events as ev
from ledger.domain.contract import ACTIONS, Contract
from ledger.domain.decisions.allocation import (
    decide_release_allocation,
    decide_resize_allocation,
)
from ledger.domain.decisions.contract import (
    decide_amend_contract,
    decide_draft_contract,
    decide_terminate_contract,
)
from ledger.domain.decisions.facility import decide_change_facility_capacity
from ledger.domain.decisions.party import (
    decide_change_limit,
    decide_register_party,
    decide_reopen_period,
)
from ledger.domain.frozen import evolved
from ledger.domain.rules import BACKDATING_TOLERANCE, require_action
from ledger.errors import InvalidInput, NotFound, RuleViolation
from tests.unit.domain.world import END, NOW, START, World, at, gpus

TICK = timedelta(microseconds=1)
"""The smallest step of business time: one unit past a boundary."""


def refused(rule: str) -> pytest.RaisesContext[RuleViolation]:
    return pytest.raises(RuleViolation, match=f"^{rule}:")


@pytest.fixture
def world() -> World:
    return World().register(capacity=1000)


# -- 1. a term is [start, end) with start < end ---------------------------------------------


def test_a_term_of_one_tick_is_a_term_and_an_empty_one_is_not(world: World) -> None:
    assert world.draft("short", 10, start=START, end=START + TICK).term_end == START + TICK
    with refused("term_invalid") as refusal:
        world.draft("empty", 10, start=START, end=START)
    assert refusal.value.at == START


def test_an_amendment_may_not_end_the_term_at_its_start(world: World) -> None:
    contract = world.lease("lease", 100)
    books = world.books("anthropic")
    facility = world.facility("colossus-1")

    def amend(term_end: datetime) -> None:
        cmd = c.AmendContract(
            contract_id="lease", effective_at=START, term_end=term_end, reason="shorter"
        )
        decide_amend_contract(contract, facility, books, cmd, "amd-1", NOW)

    amend(START + TICK)
    with refused("term_invalid"):
        amend(START)


# -- 2. what each lifecycle state allows -----------------------------------------------------

EVERY_ACTION = sorted(set().union(*ACTIONS.values()))


@pytest.mark.parametrize("lifecycle", ["draft", "voided", "signed", "terminated"])
@pytest.mark.parametrize("action", EVERY_ACTION)
def test_the_actions_table_is_what_is_enforced(world: World, lifecycle: str, action: str) -> None:
    contract = world.draft("lease", 100)
    if lifecycle != "draft":
        contract = evolved(contract, lifecycle=lifecycle)
    if action in ACTIONS.get(lifecycle, frozenset()):
        require_action(contract, action)
    else:
        with refused("contract_state"):
            require_action(contract, action)


def test_a_signed_contract_refuses_revision_and_a_draft_refuses_allocation(world: World) -> None:
    world.draft("draft", 100)
    with refused("contract_state") as refusal:
        world.allocate("draft", 10)
    assert "allocate under contract draft: it is draft" in str(refusal.value)
    world.lease("lease", 100)
    with refused("contract_state") as refusal:
        world.sign("lease")
    assert "only drafts can be signed" in str(refusal.value)


# -- 3. allocations within the contracted quantity -------------------------------------------


def test_allocations_may_reach_the_contracted_quantity_exactly(world: World) -> None:
    world.lease("lease", 600)
    world.allocate("lease", "599.999999", allocation_id="a")
    world.allocate("lease", "0.000001", allocation_id="b")
    with refused("allocation_exceeds_contract") as refusal:
        world.allocate("lease", "0.000001", allocation_id="c")
    assert (refusal.value.resource, refusal.value.at) == ("gpu.h100", START)


def test_overlapping_allocations_count_only_where_they_overlap(world: World) -> None:
    world.lease("lease", 600)
    middle = at("2027-07-01T00:00:00")
    world.allocate("lease", 600, until=middle, allocation_id="first-half")
    world.allocate("lease", 600, effective_at=middle, allocation_id="second-half")
    with refused("allocation_exceeds_contract") as refusal:
        world.allocate("lease", 1, effective_at=middle - TICK, allocation_id="overlap")
    assert refusal.value.at == middle - TICK


def test_a_future_amendment_down_is_refused_where_allocations_stand_above_it(
    world: World,
) -> None:
    contract = world.lease("lease", 600)
    world.allocate("lease", 400)
    contract = world.contract("lease")
    later = at("2027-06-01T00:00:00")

    def amend_to(quantity: int) -> None:
        cmd = c.AmendContract(
            contract_id="lease", effective_at=later, capacity=gpus(quantity), reason="smaller"
        )
        facility = world.facility("colossus-1")
        decide_amend_contract(contract, facility, world.books("anthropic"), cmd, "amd-1", NOW)

    amend_to(400)
    with refused("allocation_exceeds_contract") as refusal:
        amend_to(399)
    assert refusal.value.at == later


def test_a_backdated_resize_is_checked_from_its_own_instant(world: World) -> None:
    world.lease("lease", 600)
    world.allocate("lease", 300, allocation_id="a")
    world.allocate("lease", 200, effective_at=at("2027-03-01T00:00:00"), allocation_id="b")
    contract = world.contract("lease")

    def resize(quantity: int, effective_at: datetime) -> None:
        cmd = c.ResizeAllocation(
            contract_id="lease",
            allocation_id="a",
            quantity=Decimal(quantity),
            effective_at=effective_at,
            reason="backdated correction",
        )
        decide_resize_allocation(contract, None, cmd, NOW)

    resize(400, at("2027-03-01T00:00:00"))
    with refused("allocation_exceeds_contract") as refusal:
        resize(401, at("2027-02-01T00:00:00"))
    assert refusal.value.at == at("2027-03-01T00:00:00")  # where b joins it
    with pytest.raises(RuleViolation, match="starts later"):
        resize(300, START - TICK)


def test_a_released_allocation_cannot_change_again(world: World) -> None:
    world.lease("lease", 600)
    world.allocate("lease", 300, allocation_id="a")
    release = c.ReleaseAllocation(contract_id="lease", allocation_id="a", effective_at=START)
    world.run(decide_release_allocation(world.contract("lease"), None, release, NOW))
    with refused("contract_state"):
        decide_release_allocation(world.contract("lease"), None, release, NOW)
    with pytest.raises(NotFound):
        decide_release_allocation(
            world.contract("lease"), None, release.model_copy(update={"allocation_id": "b"}), NOW
        )


# -- 4. no double leasing at a facility -------------------------------------------------------


def test_signed_contracts_may_reserve_the_facility_exactly_and_no_more(world: World) -> None:
    world.lease("first", 600)
    world.lease("second", 400)
    world.draft("third", "0.000001")
    with refused("facility_overcommitted") as refusal:
        world.sign("third")
    assert (refusal.value.resource, refusal.value.at) == ("gpu.h100", START)


def test_leases_one_after_the_other_may_each_take_the_whole_facility(world: World) -> None:
    world.lease("this-year", 1000)
    world.lease("next-year", 1000, start=END, end=END + timedelta(days=365))
    world.draft("overlapping", 1, start=END - TICK, end=END + TICK)
    with refused("facility_overcommitted") as refusal:
        world.sign("overlapping")
    assert refusal.value.at == END - TICK


def test_a_future_capacity_cut_is_refused_below_what_is_reserved(world: World) -> None:
    world.lease("lease", 600)
    cut_at = at("2027-09-01T00:00:00")

    def cut_to(quantity: int) -> None:
        cmd = c.ChangeFacilityCapacity(
            facility_id="colossus-1", capacity=gpus(quantity), effective_at=cut_at
        )
        decide_change_facility_capacity(world.facility("colossus-1"), cmd, NOW)

    cut_to(600)
    with refused("facility_overcommitted") as refusal:
        cut_to(599)
    assert refusal.value.at == cut_at


def test_termination_frees_the_facility_from_its_instant(world: World) -> None:
    contract = world.lease("lease", 1000)
    ends = at("2027-06-01T00:00:00")
    cmd = c.TerminateContract(contract_id="lease", effective_at=ends, reason="ended early")
    world.run(decide_terminate_contract(contract, world.facility("colossus-1"), None, cmd, NOW))
    world.lease("after", 1000, start=ends, end=END)
    world.draft("one-tick-early", 1, start=ends - TICK, end=END)
    with refused("facility_overcommitted"):
        world.sign("one-tick-early")


# -- 5. a contract's provider is its facility's --------------------------------------------------


def test_a_contract_names_its_facility_s_provider(world: World) -> None:
    other = c.RegisterParty(party_id="orbital", name="Orbital", roles=("provider",))
    world.run(decide_register_party(None, other, NOW))
    cmd = c.DraftContract(
        provider="orbital",
        tenant="anthropic",
        facility="colossus-1",
        title="wrong provider",
        term=ev.Term(start=START, end=END),
        capacity=gpus(1),
    )
    with refused("provider_mismatch"):
        decide_draft_contract(None, world.named(provider="orbital"), cmd, "x", NOW)
    with refused("party_role"):
        decide_draft_contract(None, world.named(provider="acme"), cmd, "x", NOW)


# -- 6. limit values >= 0, scale factors > 0 --------------------------------------------------


def _limit(world: World, **change: object) -> None:
    cmd = c.ChangeLimit(tenant="anthropic", plan="max", limit="rpm", reason="r", **change)  # type: ignore[arg-type]
    world.run(decide_change_limit(world.party("anthropic"), cmd, NOW))


def test_a_limit_may_be_zero_and_not_below(world: World) -> None:
    _limit(world, operation="set", value=Decimal(0))
    with refused("limit_invalid"):
        _limit(world, operation="set", value=Decimal("-0.000001"))


def test_a_scale_factor_must_be_above_zero(world: World) -> None:
    with refused("limit_invalid") as refusal:
        _limit(world, operation="scale", factor=Decimal(2))
    assert "no max/rpm limit is in force" in str(refusal.value)
    _limit(world, operation="set", value=Decimal(100))
    _limit(world, operation="scale", factor=Decimal("0.000001"))
    assert world.party("anthropic").limit_at("max", "rpm", NOW).value == Decimal("0.0001")  # type: ignore[union-attr]
    with refused("limit_invalid"):
        _limit(world, operation="scale", factor=Decimal(0))


def test_a_temporary_limit_ends_after_it_begins(world: World) -> None:
    _limit(world, operation="set", value=Decimal(1), effective_at=NOW, until=NOW + TICK)
    with refused("term_invalid"):
        _limit(world, operation="set", value=Decimal(1), effective_at=NOW, until=NOW)


# -- closed periods and backdating --------------------------------------------------------------


def test_closed_books_refuse_a_change_one_tick_before_the_close(world: World) -> None:
    world.lease("lease", 600)
    closed = at("2027-02-01T00:00:00")
    world.close_books("anthropic", closed)
    world.allocate("lease", 10, effective_at=closed, allocation_id="at-the-close")
    with refused("period_closed") as refusal:
        world.allocate("lease", 10, effective_at=closed - TICK, allocation_id="before")
    assert refusal.value.at == closed - TICK
    with refused("period_closed"):
        _limit(world, operation="set", value=Decimal(1), effective_at=closed - TICK)
    _limit(world, operation="set", value=Decimal(1), effective_at=closed)


def test_reopening_must_go_back_and_needs_a_reason(world: World) -> None:
    closed = at("2027-02-01T00:00:00")
    world.close_books("anthropic", closed)

    def reopen(through: datetime, reason: str | None = "invoice corrected") -> None:
        cmd = c.ReopenPeriod(tenant="anthropic", through=through, reason=reason)
        decide_reopen_period(world.party("anthropic"), cmd, NOW)

    reopen(closed - TICK)
    with refused("period_closed"):
        reopen(closed)
    with pytest.raises(InvalidInput, match="reason is required"):
        reopen(closed - TICK, reason=None)


def test_a_change_backdated_past_the_tolerance_needs_a_reason(world: World) -> None:
    world.lease("lease", 600, start=NOW - timedelta(days=30), end=END)
    edge = NOW - BACKDATING_TOLERANCE
    world.allocate("lease", 1, effective_at=edge, allocation_id="at-the-edge")
    with pytest.raises(InvalidInput, match="backdated"):
        world.allocate("lease", 1, effective_at=edge - TICK, allocation_id="past-it")


def test_decisions_hand_back_the_reason_they_were_given_for_metadata(world: World) -> None:
    contract: Contract = world.lease("lease", 600)
    cmd = c.TerminateContract(contract_id="lease", effective_at=START, reason="  ended  ")
    decided = decide_terminate_contract(contract, world.facility("colossus-1"), None, cmd, NOW)
    assert decided.reason == "ended"
    assert [type(change.event) for change in decided.changes] == [
        ev.ContractTerminated,
        ev.CapacityReservationReleased,
    ]
    assert {change.effective_at for change in decided.changes} == {START}
