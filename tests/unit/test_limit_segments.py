"""A limit's segments: the quick walk agrees with `limit_at` asked at every break."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.party import LimitEntry, LimitSegment, Party
from ledger.timeline import END_OF_TIME

T0 = datetime(2026, 1, 1, tzinfo=UTC)
days = st.integers(min_value=0, max_value=30).map(lambda d: T0 + timedelta(days=d))


@st.composite
def entries(draw: st.DrawFn) -> tuple[LimitEntry, ...]:
    made = []
    for position in range(1, draw(st.integers(0, 8)) + 1):
        start = draw(days)
        lapse = draw(st.one_of(st.none(), st.integers(1, 10)))
        made.append(
            LimitEntry(
                effective_at=start,
                position=position,
                value=Decimal(draw(st.integers(1, 3))),
                unlimited=False,
                operation="set",
                factor=None,
                until=None if lapse is None else start + timedelta(days=lapse),
            )
        )
    return tuple(made)


def by_limit_at(party: Party, since: datetime) -> list[LimitSegment]:
    """The definition: `limit_at` at every instant where a change starts or lapses."""
    entries = party.limit_entries("pro", "rpm")
    breaks = sorted(
        {since}
        | {e.effective_at for e in entries if e.effective_at > since}
        | {e.until for e in entries if e.until is not None and e.until > since}
    )
    segments: list[LimitSegment] = []
    for start, end in zip(breaks, [*breaks[1:], END_OF_TIME], strict=True):
        entry = party.limit_at("pro", "rpm", start)
        if entry is None:
            continue
        if segments and segments[-1].entry == entry and segments[-1].valid_to == start:
            segments[-1] = LimitSegment(segments[-1].valid_from, end, entry)
        else:
            segments.append(LimitSegment(start, end, entry))
    return segments


@given(entries(), days)
def test_limit_segments_match_limit_at_at_every_break(
    made: tuple[LimitEntry, ...], since: datetime
) -> None:
    party = Party("acme", "Acme", ("tenant",), limits=((("pro", "rpm"), made),))
    assert party.limit_segments("pro", "rpm", since) == by_limit_at(party, since)
