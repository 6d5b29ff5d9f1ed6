"""`evolved`: the domain's fast `dataclasses.replace`, held to it."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledger.domain.contract import Allocation, AllocationChange, Contract
from ledger.domain.events import CapacityLine
from ledger.domain.frozen import evolved

START = datetime(2026, 5, 6, tzinfo=UTC)


def contract() -> Contract:
    return Contract(
        contract_id="c1",
        provider="spacex",
        tenant="anthropic",
        facility="colossus-1",
        title="Colossus 1",
        reference=None,
        term_start=START,
        term_end=START.replace(year=2028),
        capacity=(CapacityLine(resource="gpu.gb200", quantity=Decimal(100), unit="gpu"),),
        units={"gpu.gb200": "gpu"},
    )


def test_evolved_equals_replace_and_leaves_the_original_alone() -> None:
    state = contract()

    changed = evolved(state, lifecycle="signed", version=2)

    assert changed == dataclasses.replace(state, lifecycle="signed", version=2)
    assert type(changed) is Contract
    assert (state.lifecycle, state.version) == ("draft", 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        changed.version = 3  # type: ignore[misc]


def test_evolved_does_not_carry_over_what_the_old_state_cached() -> None:
    state = contract()
    assert state.schedule().end == START.replace(year=2028)  # cached on `state`

    later = evolved(state, term_end=START.replace(year=2029))

    assert later.schedule().end == START.replace(year=2029)
    allocation = Allocation(
        "a1", "training", "gpu.gb200", None, (AllocationChange(START, 1, Decimal(4)),)
    )
    assert allocation.steps("w:training").points[0][1] == {"w:training": Decimal(4)}
    resized = evolved(allocation, changes=(AllocationChange(START, 1, Decimal(9)),))
    assert resized.steps("w:training").points[0][1] == {"w:training": Decimal(9)}


def test_evolved_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field 'colour'"):
        evolved(contract(), colour="blue")


def test_evolved_refuses_classes_it_cannot_copy_field_by_field() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        x: int

    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            assert self.x >= 0

    for value in (Slotted(1), Checked(1)):
        with pytest.raises(TypeError):
            evolved(value, x=2)


def test_a_cached_property_is_not_a_field() -> None:
    @dataclasses.dataclass(frozen=True)
    class Doubling:
        x: int

        @functools.cached_property
        def double(self) -> int:
            return 2 * self.x

    first = Doubling(1)
    assert first.double == 2
    assert evolved(first, x=5).double == 10
