"""Step functions over business time.

Capacities, reservations and allocations are step functions of business time: a change
effective at t holds from t until the next change. Invariants are checked over the whole
function (so a backdated or future-dated change is checked at every instant it affects),
and projections store the functions as validity intervals.

A `Steps` value maps labels to quantities (`{"c:ctr_1": 100, "w:training": 40}`), so one
function can carry a breakdown (per contract, per workload) and still be summed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from ledger.exact import add, subtract
from ledger.exact import total as exact_total

Vec = Mapping[str, Decimal]
ZERO = Decimal(0)
EMPTY: Vec = {}
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)
"""The end of an open interval (stored instead of NULL so that it can be indexed)."""


def vec_add(a: Vec, b: Vec, sign: int = 1) -> dict[str, Decimal]:
    result = dict(a)
    combine = add if sign > 0 else subtract
    for key, quantity in b.items():
        total = combine(result.get(key, ZERO), quantity)
        if total:
            result[key] = total
        else:
            result.pop(key, None)
    return result


def _vec_sub(a: Vec, b: Vec) -> dict[str, Decimal]:
    return vec_add(a, b, -1)


def total(value: Vec, prefix: str = "") -> Decimal:
    return exact_total(q for k, q in value.items() if k.startswith(prefix))


@dataclass(frozen=True, slots=True)
class Segment:
    """`value` holds over [valid_from, valid_to)."""

    valid_from: datetime
    valid_to: datetime
    value: Vec


@dataclass(frozen=True)
class Steps:
    """value(t) = the value of the last point at or before t; empty before the first."""

    points: tuple[tuple[datetime, Vec], ...] = ()

    @staticmethod
    def interval(start: datetime, end: datetime, value: Vec) -> Steps:
        if start >= end or not value:
            return Steps()
        return Steps(((start, dict(value)), (end, EMPTY)))

    @staticmethod
    def from_changes(changes: Iterable[tuple[datetime, Vec]]) -> Steps:
        """Build from (time, value) changes; a later change at the same time wins."""
        merged: dict[datetime, Vec] = {}
        for moment, value in changes:
            merged[moment] = value
        return Steps(tuple(sorted(merged.items(), key=lambda p: p[0])))._canonical()

    @staticmethod
    def from_segments(segments: Iterable[Segment]) -> Steps:
        changes: list[tuple[datetime, Vec]] = []
        for segment in sorted(segments, key=lambda s: s.valid_from):
            if changes and changes[-1][0] == segment.valid_from and not changes[-1][1]:
                changes.pop()
            changes.append((segment.valid_from, segment.value))
            changes.append((segment.valid_to, EMPTY))
        return Steps(tuple(changes))._canonical()

    def value_at(self, moment: datetime) -> Vec:
        current: Vec = EMPTY
        for time, value in self.points:
            if time > moment:
                break
            current = value
        return current

    def combine(self, other: Steps, op: Callable[[Vec, Vec], Vec]) -> Steps:
        times = sorted({t for t, _ in self.points} | {t for t, _ in other.points})
        mine, theirs = iter(self.points), iter(other.points)
        a_next, b_next = next(mine, None), next(theirs, None)
        a_value: Vec = EMPTY
        b_value: Vec = EMPTY
        result: list[tuple[datetime, Vec]] = []
        for time in times:
            while a_next is not None and a_next[0] <= time:
                a_value, a_next = a_next[1], next(mine, None)
            while b_next is not None and b_next[0] <= time:
                b_value, b_next = b_next[1], next(theirs, None)
            result.append((time, op(a_value, b_value)))
        return Steps(tuple(result))._canonical()

    # Every constructor leaves `points` canonical (no empty head, no repeated value), so an
    # empty operand or equal operands need no merge.
    def __add__(self, other: Steps) -> Steps:
        if not other.points:
            return self
        if not self.points:
            return other
        return self.combine(other, vec_add)

    def __sub__(self, other: Steps) -> Steps:
        if not other.points:
            return self
        if self.points == other.points:
            return Steps()
        return self.combine(other, _vec_sub)

    def clip(self, start: datetime, end: datetime) -> Steps:
        """Zero outside [start, end): the value at start, the points inside, empty from end.

        (A merge with the window [start, end) gives the same; this walks the points once,
        and clipping runs for every allocation change a projection folds.)
        """
        if start >= end or not self.points:
            return Steps()
        at_start: Vec = EMPTY
        inside: list[tuple[datetime, Vec]] = []
        for time, value in self.points:
            if time <= start:
                at_start = value
            elif time < end:
                inside.append((time, value))
            else:
                break
        return Steps(((start, at_start), *inside, (end, EMPTY)))._canonical()

    def segments(self) -> list[Segment]:
        """The non-empty maximal intervals, in order."""
        result: list[Segment] = []
        if not self.points:
            return result
        for (time, value), following in zip(
            self.points, (*self.points[1:], (END_OF_TIME, EMPTY)), strict=True
        ):
            if value and time < following[0]:
                result.append(Segment(time, following[0], value))
        return result

    def support(self) -> tuple[datetime, datetime] | None:
        """[first, last) instants where the function is non-empty, or None."""
        segments = self.segments()
        return (segments[0].valid_from, segments[-1].valid_to) if segments else None

    def first_instant(self, other: Steps, broken: Callable[[Vec, Vec], bool]) -> datetime | None:
        """The first instant t at which `broken(self(t), other(t))` holds."""
        found: list[datetime] = []

        def probe(a: Vec, b: Vec) -> Vec:
            return {"x": Decimal(1)} if broken(a, b) else EMPTY

        for time, value in self.combine(other, probe).points:
            if value:
                found.append(time)
                break
        return found[0] if found else None

    def _canonical(self) -> Steps:
        result: list[tuple[datetime, Vec]] = []
        for time, value in self.points:
            if result and result[-1][1] == value:
                continue
            if not result and not value:
                continue
            result.append((time, value))
        return Steps(tuple(result))


V = TypeVar("V")


def gap_filled(
    pieces: Iterable[tuple[datetime, datetime, V]], start: datetime, end: datetime, gap: V
) -> list[tuple[datetime, datetime, V]]:
    """Pieces (ordered, not overlapping) clipped to [start, end), every uncovered span
    between them given the value `gap`: a window read as one unbroken step function."""
    result: list[tuple[datetime, datetime, V]] = []
    cursor = start
    for valid_from, valid_to, value in pieces:
        lo, hi = max(valid_from, start), min(valid_to, end)
        if lo >= hi:
            continue
        if lo > cursor:
            result.append((cursor, lo, gap))
        result.append((lo, hi, value))
        cursor = hi
    if cursor < end:
        result.append((cursor, end, gap))
    return result


def exceeds(a: Vec, b: Vec) -> bool:
    return total(a) > total(b)
