"""Quantities are bounded and their arithmetic exact: nothing is ever rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import exact
from ledger.exact import DIGITS, OutOfRange, bounded


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("1", "1"),
        ("1000", "1000"),
        ("1E+3", "1000"),
        ("1.500", "1.5"),
        ("-0", "0"),
        ("0.000", "0"),
        ("9" * DIGITS, "9" * DIGITS),
        ("0." + "0" * (DIGITS - 1) + "1", "0." + "0" * (DIGITS - 1) + "1"),
        ("1." + "0" * 300, "1"),
        ("12345678901234567890123456789", "12345678901234567890123456789"),  # 29 digits
    ],
)
def test_bounded_quantities_come_back_plain_and_unrounded(text: str, plain: str) -> None:
    result = bounded(Decimal(text))
    assert format(result, "f") == plain
    assert result == Decimal(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1" + "0" * DIGITS, "before the decimal point"),
        ("1E+2000000", "before the decimal point"),
        ("0." + "0" * DIGITS + "1", "after the decimal point"),
        ("1E-2000000", "after the decimal point"),
        ("1." + "1" * 300, "after the decimal point"),
        ("NaN", "finite"),
        ("-Infinity", "finite"),
    ],
)
def test_quantities_outside_the_bounds_are_refused(text: str, message: str) -> None:
    with pytest.raises(OutOfRange, match=message):
        bounded(Decimal(text))


def test_sums_past_28_digits_are_exact() -> None:
    # Under Python's default context this sum is 1: a contract of 1 accepted both.
    half, more = Decimal("0.5"), Decimal("0.5000000000000000000000000001")
    assert exact.add(half, more) == Decimal("1.0000000000000000000000000001")
    assert exact.total([half, more]) > 1
    assert exact.subtract(Decimal(1), more) == Decimal("0.4999999999999999999999999999")
    big = "9" * DIGITS + "." + "9" * DIGITS  # the largest product a scaled limit can need
    as_integer = int(big.replace(".", ""))
    product = exact.multiply(Decimal(big), Decimal(big))
    assert int(exact.EXACT.scaleb(product, 2 * DIGITS)) == as_integer**2


quantities = st.decimals(
    min_value=Decimal("-" + "9" * DIGITS), max_value=Decimal("9" * DIGITS), places=DIGITS
)


@given(st.lists(quantities, max_size=50))
def test_a_total_minus_each_term_is_zero(terms: list[Decimal]) -> None:
    remaining = exact.total(terms)
    for term in terms:
        remaining = exact.subtract(remaining, term)
    assert remaining == 0
