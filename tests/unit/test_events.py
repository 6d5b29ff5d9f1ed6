"""Event registry, upcasting on read, and the exact value types events are built from."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.errors import InvalidPayload, UnknownEventType
from ledger.events import Event, EventRegistry
from ledger.exact import DIGITS
from tests.support import Deposited, RateSet, registry


def test_build_validates_a_payload_into_the_current_model() -> None:
    assert registry.build("Deposited", {"amount": "12.50"}) == Deposited(amount=Decimal("12.5"))


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({}, ("amount",)),
        ({"amount": 1.5}, ("amount",)),
        ({"amount": "lots"}, ("amount",)),
        ({"amount": "Infinity"}, ("amount",)),
        ({"amount": "1", "surprise": True}, ("surprise",)),
    ],
    ids=["missing", "float", "not-a-number", "infinite", "extra-field"],
)
def test_build_names_the_field_a_bad_payload_breaks(
    data: dict[str, object], loc: tuple[str]
) -> None:
    with pytest.raises(InvalidPayload) as caught:
        registry.build("Deposited", data)
    assert caught.value.event_type == "Deposited"
    assert [e.loc for e in caught.value.errors] == [loc]


def test_unknown_types_and_versions_are_clear_errors() -> None:
    with pytest.raises(UnknownEventType, match="Withdrawn"):
        registry.build("Withdrawn", {})
    with pytest.raises(UnknownEventType, match="Withdrawn"):
        registry.decode("Withdrawn", 1, b"{}")
    with pytest.raises(UnknownEventType, match="RateSet v4"):
        registry.decode("RateSet", 4, b'{"rate":"1"}')


def test_a_missing_upcaster_is_a_clear_error() -> None:
    partial = EventRegistry()

    @partial.register
    class Renamed(Event):
        event_type = "Renamed"
        schema_version = 2
        name: str

    with pytest.raises(UnknownEventType, match="Renamed v1"):
        partial.decode("Renamed", 1, b'{"title":"x"}')


def test_registering_a_second_class_under_one_name_is_refused() -> None:
    class Impostor(Event):
        event_type = "Deposited"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Impostor)


def test_encoding_an_unregistered_type_is_refused() -> None:
    class Stray(Event):
        event_type = "Stray"

    with pytest.raises(UnknownEventType):
        registry.encode(Stray())


@given(st.integers(min_value=0, max_value=10**12))
def test_upcasting_v1_and_v2_payloads_gives_the_current_model(percent: int) -> None:
    from_v1 = registry.decode("RateSet", 1, orjson.dumps({"percent": percent}))
    from_v2 = registry.decode("RateSet", 2, orjson.dumps({"rate": percent}))
    current = registry.decode("RateSet", 3, registry.encode(RateSet(rate=Decimal(percent) / 100)))

    assert from_v1 == from_v2 == current
    assert current.rate == Decimal(percent) / 100  # type: ignore[attr-defined]


@given(st.decimals(min_value=-(10**DIGITS) + 1, max_value=10**DIGITS - 1, places=6))
def test_encode_then_decode_is_identity(amount: Decimal) -> None:
    event = Deposited(amount=amount, note="memo")
    assert registry.decode("Deposited", 1, registry.encode(event)) == event


@pytest.mark.parametrize(
    "since",
    ["2026-05-06T00:00:00", "2026-05-06T00:00:00+02:00", 1778025600, "2026-13-01T00:00:00Z"],
    ids=["naive", "offset", "number", "garbage"],
)
def test_utc_datetime_fields_refuse_anything_but_utc(since: object) -> None:
    with pytest.raises(ValidationError):
        RateSet(rate=Decimal(1), since=since)  # type: ignore[arg-type]


def test_utc_datetime_fields_accept_z_and_zero_offset() -> None:
    expected = datetime(2026, 5, 6, tzinfo=UTC)
    assert RateSet(rate=Decimal(1), since="2026-05-06T00:00:00Z").since == expected  # type: ignore[arg-type]
    assert RateSet(rate=Decimal(1), since="2026-05-06T00:00:00+00:00").since == expected  # type: ignore[arg-type]


def test_events_are_frozen() -> None:
    event = Deposited(amount=Decimal(1))
    with pytest.raises(ValidationError):
        event.amount = Decimal(2)  # type: ignore[misc]
