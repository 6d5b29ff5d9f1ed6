"""Exact arithmetic on quantities.

Python's default decimal context rounds every result to 28 significant digits, silently:
under it, allocations of 0.5 and 0.5000000000000000000000000001 summed to 1, so a contract
of 1 accepted both, and a 29-digit capacity was recorded rounded. A ledger must not round.

So quantities are bounded (at most `DIGITS` digits before and after the point), and every
operation on them goes through `EXACT`: its precision holds any sum of far more quantities
than a ledger holds, and any product of two, and should that ever not be enough it raises
`decimal.Inexact` instead of rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Underflow,
)

DIGITS = 30
"""Digits a quantity may have before the decimal point, and after it."""

EXACT = Context(
    prec=4 * DIGITS + 80,
    Emax=4 * DIGITS,
    Emin=-4 * DIGITS,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow, Underflow],
)
ZERO = Decimal(0)


class OutOfRange(ValueError):
    """A quantity the ledger cannot hold exactly."""


def bounded(value: Decimal) -> Decimal:
    """`value` without trailing zeros, in plain form (zero is `0`), or `OutOfRange`."""
    if not value.is_finite():
        raise OutOfRange("quantities must be finite")
    if value.is_zero():
        return ZERO
    if value.adjusted() >= DIGITS:
        raise OutOfRange(f"quantities have at most {DIGITS} digits before the decimal point")
    too_fine = OutOfRange(f"quantities have at most {DIGITS} digits after the decimal point")
    if value.adjusted() < -DIGITS:
        raise too_fine
    try:
        normal = value.normalize(EXACT)
    except Inexact:  # more significant digits than the bounds allow
        raise too_fine from None
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -DIGITS:
        raise too_fine
    return Decimal(format(normal, "f"))  # the plain form: 1000, not 1E+3


def add(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.add(a, b)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.subtract(a, b)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.multiply(a, b)


def total(quantities: Iterable[Decimal]) -> Decimal:
    result = ZERO
    for quantity in quantities:
        result = EXACT.add(result, quantity)
    return result
