"""Step functions: the fast paths agree with the general merge they stand in for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger.timeline import EMPTY, Steps, vec_add

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
