"""Step functions: the fast paths agree with the general merge they stand in for."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger.timeline import EMPTY, Steps, gap_filled, vec_add

T0 = datetime(2026, 1, 1, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=40).map(lambda d: T0 + timedelta(days=d))
values = st.dictionaries(
    st.sampled_from(["c:a", "c:b", "w:x"]), st.integers(-3, 3).map(Decimal), max_size=2
).map(lambda v: {k: q for k, q in v.items() if q})
steps = st.lists(st.tuples(instants, values), max_size=8).map(Steps.from_changes)


def merged_clip(f: Steps, start: datetime, end: datetime) -> Steps:
    window = Steps.interval(start, end, {"in": Decimal(1)})
    return f.combine(window, lambda a, w: a if w else EMPTY)


@given(steps, instants, instants)
def test_clip_equals_the_merge_with_its_window(f: Steps, start: datetime, end: datetime) -> None:
    assert f.clip(start, end) == merged_clip(f, start, end)


@given(steps, steps)
def test_sums_and_differences_equal_the_general_merge(f: Steps, g: Steps) -> None:
    assert f + g == f.combine(g, vec_add)
    assert f - g == f.combine(g, lambda a, b: vec_add(a, b, -1))
    assert (f - f).points == ()


@given(steps, instants, instants)
def test_a_gap_filled_window_is_unbroken_and_agrees_with_the_function(
    f: Steps, start: datetime, end: datetime
) -> None:
    pieces = [(s.valid_from, s.valid_to, s.value) for s in f.segments()]
    filled = gap_filled(pieces, start, end, EMPTY)
    if start >= end:
        assert filled == []
        return
    assert filled[0][0] == start
    assert filled[-1][1] == end
    for (_, hi, _), (lo, _, _) in itertools.pairwise(filled):
        assert hi == lo
    for lo, hi, value in filled:
        assert lo < hi
        assert value == f.value_at(lo)


def test_gaps_take_the_given_value_and_pieces_are_clipped() -> None:
    day = timedelta(days=1)
    pieces = [(T0, T0 + 2 * day, "a"), (T0 + 3 * day, T0 + 9 * day, "b")]
    assert gap_filled(pieces, T0 + day, T0 + 5 * day, None) == [
        (T0 + day, T0 + 2 * day, "a"),
        (T0 + 2 * day, T0 + 3 * day, None),
        (T0 + 3 * day, T0 + 5 * day, "b"),
    ]
