"""The event store's contract, on the configured database (SQLite or PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from ledger.canonical import GENESIS_HASH, canonical_json, chain_hash
from ledger.errors import (
    ConcurrencyError,
    DuplicateEvent,
    InvalidInput,
    InvalidTimestamp,
    UnknownEventType,
)
from ledger.events import Event, Metadata, NewEvent
from ledger.store import ANY, NO_STREAM
from ledger.tables import events
from ledger.unit_of_work import Ledger
from tests.support import AccountOpened, Deposited

T0 = datetime(2026, 5, 6, tzinfo=UTC)


def opened(stream: str, owner: str = "anthropic") -> NewEvent:
    return NewEvent(stream, AccountOpened(owner=owner), T0, Metadata(actor="ops", source="cli"))


def deposit(stream: str, amount: str = "10", at: datetime = T0) -> NewEvent:
    return NewEvent(stream, Deposited(amount=Decimal(amount)), at)


def append(ledger: Ledger, new_events: list[NewEvent], expected: dict[str, object]) -> list:
    with ledger.write() as uow:
        return uow.append(new_events, expected)  # type: ignore[arg-type]


def count_events(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_first_append_starts_positions_versions_and_chain(store_ledger: Ledger) -> None:
    [first, second] = append(
        store_ledger, [opened("acct-a"), deposit("acct-a")], {"acct-a": NO_STREAM}
    )

    assert (first.position, first.stream_version) == (1, 1)
    assert (second.position, second.stream_version) == (2, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert first.hash == chain_hash(GENESIS_HASH, first.canonical_bytes())
    assert first.payload == canonical_json({"owner": "anthropic"}).decode()
    assert first.metadata_dict() == {"actor": "ops", "source": "cli"}
    head = store_ledger.head()
    assert (head.position, head.hash) == (2, second.hash)


def test_stored_rows_read_back_identical_to_what_append_returned(store_ledger: Ledger) -> None:
    written = append(store_ledger, [opened("acct-a"), deposit("acct-a", "12.50")], {"acct-a": 0})

    with store_ledger.read() as conn:
        read = store_ledger.store.read_stream(conn, "acct-a")

    assert read == written
    assert read[1].decode(store_ledger.registry) == Deposited(amount=Decimal("12.5"))
    # UTC as the envelope's own `timezone.utc`, on both databases (PostgreSQL: no conversion
    # on read, since the session runs in UTC).
    for record in read:
        assert record.effective_at.tzinfo is UTC
        assert record.recorded_at.tzinfo is UTC


@pytest.mark.parametrize("expected", [1, 3, NO_STREAM])
def test_wrong_expected_version_raises_and_writes_nothing(
    store_ledger: Ledger, expected: object
) -> None:
    append(store_ledger, [opened("acct-a"), deposit("acct-a")], {"acct-a": NO_STREAM})
    head_before = store_ledger.head()

    with pytest.raises(ConcurrencyError) as caught:
        append(store_ledger, [deposit("acct-a")], {"acct-a": expected})

    assert caught.value.actual == 2
    assert caught.value.stream_id == "acct-a"
    assert store_ledger.head() == head_before
    assert count_events(store_ledger) == 2


def test_expected_version_zero_means_no_stream(store_ledger: Ledger) -> None:
    append(store_ledger, [opened("acct-a")], {"acct-a": 0})
    with pytest.raises(ConcurrencyError):
        append(store_ledger, [opened("acct-a")], {"acct-a": 0})


def test_matching_and_any_expectations_append(store_ledger: Ledger) -> None:
    append(store_ledger, [opened("acct-a")], {"acct-a": NO_STREAM})
    [by_version] = append(store_ledger, [deposit("acct-a")], {"acct-a": 1})
    [by_any] = append(store_ledger, [deposit("acct-a")], {"acct-a": ANY})
    [new_any] = append(store_ledger, [opened("acct-b")], {"acct-b": ANY})

    assert (by_version.stream_version, by_any.stream_version, new_any.stream_version) == (2, 3, 1)
    assert [by_version.position, by_any.position, new_any.position] == [2, 3, 4]


def test_multi_stream_append_is_atomic(store_ledger: Ledger) -> None:
    append(store_ledger, [opened("acct-a")], {"acct-a": NO_STREAM})

    with pytest.raises(ConcurrencyError):
        append(
            store_ledger,
            [opened("acct-b"), deposit("acct-a"), deposit("acct-b")],
            {"acct-b": NO_STREAM, "acct-a": 5},
        )
    assert count_events(store_ledger) == 1

    written = append(
        store_ledger,
        [opened("acct-b"), deposit("acct-a"), deposit("acct-b")],
        {"acct-b": NO_STREAM, "acct-a": 1},
    )
    assert [(e.stream_id, e.stream_version) for e in written] == [
        ("acct-b", 1),
        ("acct-a", 2),
        ("acct-b", 2),
    ]


def test_every_stream_needs_an_expectation(store_ledger: Ledger) -> None:
    with pytest.raises(InvalidInput, match="acct-b"):
        append(store_ledger, [opened("acct-a"), opened("acct-b")], {"acct-a": NO_STREAM})
    assert count_events(store_ledger) == 0


def test_unknown_event_type_is_refused_before_writing(store_ledger: Ledger) -> None:
    class Unregistered(Event):
        event_type = "Unregistered"

    with pytest.raises(UnknownEventType, match="Unregistered"):
        append(
            store_ledger,
            [opened("acct-a"), NewEvent("acct-a", Unregistered(), T0)],
            {"acct-a": ANY},
        )
    assert count_events(store_ledger) == 0


@pytest.mark.parametrize(
    "effective_at",
    [datetime(2026, 5, 6), datetime(2026, 5, 6, tzinfo=timezone(timedelta(hours=2)))],
    ids=["naive", "offset"],
)
def test_non_utc_effective_at_is_refused(store_ledger: Ledger, effective_at: datetime) -> None:
    with pytest.raises(InvalidTimestamp):
        append(store_ledger, [deposit("acct-a", at=effective_at)], {"acct-a": ANY})
    assert count_events(store_ledger) == 0


def test_duplicate_event_id_is_refused_and_writes_nothing(store_ledger: Ledger) -> None:
    event_id = uuid.uuid4()
    first = NewEvent("acct-a", AccountOpened(owner="x"), T0, event_id=event_id)
    append(store_ledger, [first], {"acct-a": NO_STREAM})

    again = NewEvent("acct-b", AccountOpened(owner="y"), T0, event_id=event_id)
    with pytest.raises(DuplicateEvent):
        append(store_ledger, [opened("acct-c"), again], {"acct-b": NO_STREAM, "acct-c": NO_STREAM})
    assert count_events(store_ledger) == 1
    assert store_ledger.head().position == 1


def test_recorded_at_never_goes_backwards_in_position(store_ledger: Ledger) -> None:
    ticks = iter([T0 + timedelta(hours=1), T0])  # the wall clock steps back an hour
    ledger = Ledger(store_ledger.engine, store_ledger.registry, clock=lambda: next(ticks))

    [first] = append(ledger, [opened("acct-a")], {"acct-a": ANY})
    [second] = append(ledger, [deposit("acct-a")], {"acct-a": ANY})

    assert second.recorded_at == first.recorded_at == T0 + timedelta(hours=1)


def test_read_stream_up_to_a_version(store_ledger: Ledger) -> None:
    append(
        store_ledger,
        [opened("acct-a")] + [deposit("acct-a", str(n)) for n in range(4)],
        {"acct-a": ANY},
    )

    with store_ledger.read() as conn:
        partial = store_ledger.store.read_stream(conn, "acct-a", up_to_version=3)
        missing = store_ledger.store.read_stream(conn, "acct-zzz")

    assert [e.stream_version for e in partial] == [1, 2, 3]
    assert missing == []


def test_stream_tail_gives_the_version_and_the_latest_event_of_the_types_asked(
    store_ledger: Ledger,
) -> None:
    append(
        store_ledger,
        [opened("acct-a"), deposit("acct-a", "1"), deposit("acct-a", "2"), opened("acct-b")],
        {"acct-a": ANY, "acct-b": ANY},
    )
    append(store_ledger, [deposit("acct-a", "3")], {"acct-a": ANY})

    with store_ledger.read() as conn:
        version, latest = store_ledger.store.stream_tail(conn, "acct-a", ["Deposited"])
        opened_only = store_ledger.store.stream_tail(conn, "acct-b", ["Deposited"])
        missing = store_ledger.store.stream_tail(conn, "acct-zzz", ["Deposited"])

    assert version == 4
    assert latest is not None
    assert (latest.stream_version, latest.position) == (4, 5)
    assert latest.decode(store_ledger.registry) == Deposited(amount=Decimal(3))
    assert opened_only == (1, None)
    assert missing == (0, None)


def test_read_all_pages_through_everything_in_position_order(store_ledger: Ledger) -> None:
    append(
        store_ledger, [opened(f"acct-{n}") for n in range(7)], {f"acct-{n}": ANY for n in range(7)}
    )

    with store_ledger.read() as conn:
        reader = store_ledger.store.read_all(conn, after=2, batch_size=2)
        assert iter(reader) is reader  # a generator: pages are fetched as it is consumed
        positions = [e.position for e in reader]

    assert positions == [3, 4, 5, 6, 7]


def test_read_all_reads_ranges_of_positions_and_stops_at_the_last_event(
    store_ledger: Ledger,
) -> None:
    append(
        store_ledger, [opened(f"acct-{n}") for n in range(7)], {f"acct-{n}": ANY for n in range(7)}
    )
    ranges: list[tuple[int, int]] = []
    read_range = type(store_ledger.store).read_range

    def recording(conn: object, after: int, through: int) -> list[object]:
        ranges.append((after, through))
        return read_range(conn, after, through)  # type: ignore[arg-type]

    with store_ledger.read() as conn:
        store = store_ledger.store
        assert [e.position for e in store.read_range(conn, 2, 5)] == [3, 4, 5]
        store.read_range = recording  # type: ignore[method-assign]
        # An upper bound far past the last event costs no more statements than the events.
        far = [e.position for e in store.read_all(conn, after=1, batch_size=3, up_to=10**15)]
        everything = [e.position for e in store.read_all(conn, batch_size=3)]

    assert far == [2, 3, 4, 5, 6, 7]
    assert everything == [1, 2, 3, 4, 5, 6, 7]
    assert ranges == [(1, 4), (4, 7), (0, 3), (3, 6), (6, 7)]


def test_read_all_filters_by_stream_prefix_type_and_upper_bound(store_ledger: Ledger) -> None:
    append(store_ledger, [opened("acct-a"), deposit("acct-a")], {"acct-a": ANY})
    append(store_ledger, [opened("acct_b"), deposit("acct_b")], {"acct_b": ANY})
    append(store_ledger, [opened("other-c"), deposit("other-c")], {"other-c": ANY})

    with store_ledger.read() as conn:
        by_prefix = [e.position for e in store_ledger.store.read_all(conn, stream_prefix="acct-")]
        by_type = [e.position for e in store_ledger.store.read_all(conn, types=["Deposited"])]
        bounded = [e.position for e in store_ledger.store.read_all(conn, after=1, up_to=3)]

    assert by_prefix == [1, 2]  # the "_" of acct_b is not a LIKE wildcard
    assert by_type == [2, 4, 6]
    assert bounded == [2, 3]


def test_position_at_maps_a_timestamp_to_the_last_event_recorded_by_then(
    store_ledger: Ledger,
) -> None:
    ticks = iter([T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)])
    ledger = Ledger(store_ledger.engine, store_ledger.registry, clock=lambda: next(ticks))
    for _ in range(3):
        append(ledger, [deposit("acct-a")], {"acct-a": ANY})

    with ledger.read() as conn:
        assert ledger.store.position_at(conn, T0 - timedelta(seconds=1)) == 0
        assert ledger.store.position_at(conn, T0 + timedelta(seconds=90)) == 2
        assert ledger.store.position_at(conn, T0 + timedelta(days=1)) == 3


def test_one_append_may_touch_thousands_of_streams(store_ledger: Ledger) -> None:
    streams = [f"acct-{n}" for n in range(2_000)]  # past PostgreSQL's 1,664-column limit
    append(store_ledger, [opened(s) for s in streams], dict.fromkeys(streams, NO_STREAM))

    written = append(store_ledger, [deposit(s) for s in streams], dict.fromkeys(streams, 1))

    assert {e.stream_version for e in written} == {2}
    with pytest.raises(ConcurrencyError):
        append(store_ledger, [deposit(s) for s in streams], dict.fromkeys(streams, 1))
    assert store_ledger.head().position == 4_000


def test_generated_event_ids_are_time_ordered_uuids(store_ledger: Ledger) -> None:
    """Version 7 UUIDs (RFC 9562) stamped with the recording millisecond, increasing with
    position, so that the event-id index grows at its right edge."""
    ticks = iter([T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)])
    ledger = Ledger(store_ledger.engine, store_ledger.registry, clock=lambda: next(ticks))
    given = uuid.uuid4()
    first = append(
        ledger, [opened("acct-a")] + [deposit("acct-a") for _ in range(5000)], {"acct-a": ANY}
    )
    second = append(ledger, [deposit("acct-b")], {"acct-b": ANY})
    third = append(
        ledger, [NewEvent("acct-c", AccountOpened(owner="x"), T0, event_id=given)], {"acct-c": ANY}
    )

    ids = [uuid.UUID(e.event_id) for e in first + second]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    stamp_ms = int(T0.timestamp() * 1000)
    # 12 bits count events within a millisecond; the 4,097th moves to the next one.
    assert [i.int >> 80 for i in ids[:2]] == [stamp_ms, stamp_ms]
    assert ids[4096].int >> 80 == stamp_ms + 1
    assert [str(i) for i in ids] == [e.event_id for e in first + second]
    assert third[0].event_id == str(given)  # a caller's own id is kept as given


@pytest.mark.parametrize("batch", [1, 3], ids=["one event", "several events"])
def test_a_stream_version_taken_since_it_was_read_is_a_concurrency_error(
    store_ledger: Ledger, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique (stream_id, stream_version) is the backstop when the versions read with
    the head lock are stale (PostgreSQL: a writer committed while this one waited). One
    event and several go to the database differently (PostgreSQL: one statement, COPY):
    both must name the conflict, and write nothing."""
    append(store_ledger, [opened("acct-a")], {"acct-a": NO_STREAM})
    dialect = store_ledger.dialect.events
    real_lock_head = dialect.lock_head

    def stale_lock_head(conn: Connection, streams: list[str]) -> tuple[Any, ...]:
        position, digest, recorded_at, versions = real_lock_head(conn, streams)
        return position, digest, recorded_at, dict.fromkeys(versions, 0)

    monkeypatch.setattr(dialect, "lock_head", stale_lock_head)
    with pytest.raises(ConcurrencyError) as caught:
        append(store_ledger, [deposit("acct-a") for _ in range(batch)], {"acct-a": NO_STREAM})

    assert caught.value.stream_id in ("acct-a", "")
    assert count_events(store_ledger) == 1
    assert store_ledger.head().position == 1


def test_payload_text_that_needs_escaping_round_trips_in_a_batch(store_ledger: Ledger) -> None:
    """Canonical JSON escapes control characters with backslashes; a bulk path that speaks
    a text protocol (PostgreSQL's COPY) must carry them, and quotes and non-ASCII, as is."""
    notes = ["tab\there", "line\nbreak", "back\\slash \\N", 'quote " and é ✓ 𝄞', "\\.", ""]
    written = append(
        store_ledger,
        [opened("acct-a")]
        + [NewEvent("acct-a", Deposited(amount=Decimal(1), note=n), T0) for n in notes],
        {"acct-a": NO_STREAM},
    )

    with store_ledger.read() as conn:
        read = store_ledger.store.read_stream(conn, "acct-a")

    assert read == written
    assert [r.decode(store_ledger.registry).note for r in read[1:]] == notes
    assert store_ledger.verify().ok
