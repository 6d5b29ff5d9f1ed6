"""Canonical JSON must be RFC 8785 byte for byte, whatever the input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonical_json,
    envelope_bytes,
    format_decimal,
    format_timestamp,
    parse_timestamp,
)
from ledger.errors import InvalidTimestamp, NonCanonicalValue
from ledger.projections.projector import vec_json

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
utc_instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


@given(json_values)
def test_canonical_json_is_rfc8785(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(json_values)
def test_canonical_json_round_trips(value: object) -> None:
    encoded = canonical_json(value)
    assert orjson.loads(encoded) == value
    assert canonical_json(orjson.loads(encoded)) == encoded


def test_non_ascii_keys_sort_by_utf16_code_units() -> None:
    # U+E000 sorts after the surrogate pair of U+1F600 in UTF-16, before it in UTF-8.
    assert canonical_json({"\ue000": 1, "\U0001f600": 2}) == rfc8785.dumps(
        {"\U0001f600": 2, "\ue000": 1}
    )


@given(
    position=st.integers(1, MAX_SAFE_INTEGER),
    event_id=st.uuids().map(str),
    stream_id=st.text(min_size=1),
    stream_version=st.integers(1, 2**31),
    event_type=st.text(min_size=1),
    schema_version=st.integers(1, 100),
    payload=st.dictionaries(st.text(), json_values, max_size=4),
    metadata=st.dictionaries(st.text(), st.text(), max_size=3),
    recorded_at=utc_instants,
    effective_at=utc_instants,
)
def test_spliced_envelope_equals_canonical_json_of_the_whole_envelope(
    position: int,
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    payload: dict[str, object],
    metadata: dict[str, str],
    recorded_at: datetime,
    effective_at: datetime,
) -> None:
    envelope = {
        "position": position,
        "event_id": event_id,
        "stream_id": stream_id,
        "stream_version": stream_version,
        "type": event_type,
        "schema_version": schema_version,
        "payload": payload,
        "metadata": metadata,
        "recorded_at": format_timestamp(recorded_at),
        "effective_at": format_timestamp(effective_at),
    }
    spliced = envelope_bytes(
        position=position,
        event_id=event_id,
        stream_id=stream_id,
        stream_version=stream_version,
        event_type=event_type,
        schema_version=schema_version,
        payload=canonical_json(payload),
        metadata=canonical_json(metadata),
        recorded_at=format_timestamp(recorded_at),
        effective_at=format_timestamp(effective_at),
    )
    assert spliced == rfc8785.dumps(envelope)


@given(utc_instants)
def test_timestamps_round_trip_with_microseconds(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == 27
    assert text.endswith("Z")
    assert parse_timestamp(text) == moment


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("220000", "220000"),
        ("300.50", "300.5"),
        ("2.2E+5", "220000"),
        ("-0.000", "0"),
        ("0.001", "0.001"),
    ],
)
def test_decimals_have_one_plain_form(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text
    assert canonical_json({"q": Decimal(value)}) == f'{{"q":"{text}"}}'.encode()


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        {"q": 0.1},
        [2**53],
        {"n": -(2**60)},
        {1: "key is not a string"},
        Decimal("NaN"),
        object(),
    ],
    ids=["float", "nested-float", "too-big", "too-small", "int-key", "nan", "object"],
)
def test_values_without_an_exact_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(NonCanonicalValue):
        canonical_json(value)


@pytest.mark.parametrize(
    "moment",
    [datetime(2026, 5, 6), datetime(2026, 5, 6, tzinfo=timezone(timedelta(hours=-5)))],
    ids=["naive", "offset"],
)
def test_timestamps_must_be_utc(moment: datetime) -> None:
    with pytest.raises(InvalidTimestamp):
        canonical_json({"at": moment})


def test_parse_refuses_offsets_and_garbage() -> None:
    with pytest.raises(InvalidTimestamp):
        parse_timestamp("2026-05-06T00:00:00+02:00")
    with pytest.raises(InvalidTimestamp):
        parse_timestamp("yesterday")


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.decimals(
            allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9
        ),
        max_size=6,
    )
)
def test_series_values_take_the_canonical_form_on_their_fast_path(
    value: dict[str, Decimal],
) -> None:
    assert vec_json(value) == canonical_json(value).decode()
