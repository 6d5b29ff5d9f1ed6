"""`Instant`, the type requests carry instants in: any RFC 3339 offset, read in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from ledger.timeline import END_OF_TIME
from ledger.types import Instant

instant = TypeAdapter(Instant)


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-06T00:00:00Z",
        "2026-05-06T00:00:00+00:00",
        "2026-05-06T02:00:00+02:00",
        "2026-05-05T14:30:00-09:30",
        "2026-05-06T00:00:00.000000z",
    ],
)
def test_every_offset_names_the_same_instant_in_utc(text: str) -> None:
    read = instant.validate_python(text)
    assert read == datetime(2026, 5, 6, tzinfo=UTC)
    assert read.tzinfo is UTC  # not a fixed-offset zone that happens to be zero
    assert instant.dump_json(read) == b'"2026-05-06T00:00:00.000000Z"'


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-05-06T00:00:00", "naive timestamp"),
        ("0001-01-01T00:00:00+01:00", "outside the years 0001 to 9999"),
        ("9999-12-31T20:00:00-05:00", "outside the years 0001 to 9999"),
        ("9999-12-31T01:00:00+01:00", "instants must be before"),
        ("2026-05-06T00:00+02:00", "RFC 3339"),
    ],
)
def test_instants_without_an_offset_or_outside_utc_years_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        instant.validate_python(text)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 1, 1)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_any_offset_round_trips_to_the_instant_it_names(moment: datetime, minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    read = instant.validate_python(aware.isoformat())
    assert read == aware
    assert read.utcoffset() == timedelta(0)
    assert read < END_OF_TIME
