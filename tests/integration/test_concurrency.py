"""Concurrent writers and a catch-up reader, on PostgreSQL with real threads."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, text

from ledger.errors import ConcurrencyError
from ledger.events import NewEvent
from ledger.store import NO_STREAM
from ledger.unit_of_work import Ledger
from tests.support import Deposited

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 5, 6, tzinfo=UTC)
WRITERS = 8
APPENDS_EACH = 300
HOT = "acct-hot"
Poll = Callable[[int], list[int]]


class CatchUpReader(threading.Thread):
    """Polls `after=last_seen` the way a billing system follows the event feed."""

    def __init__(self, poll: Poll, done: threading.Event) -> None:
        super().__init__(daemon=True)
        self.poll, self.done = poll, done
        self.seen: list[int] = []

    def run(self) -> None:
        last = 0
        while True:
            finished = self.done.is_set()  # read before polling: one last full poll after
            page = self.poll(last)
            self.seen.extend(page)
            if page:
                last = page[-1]
            elif finished:
                return


def skipped_or_repeated(seen: list[int]) -> list[str]:
    problems = [f"repeated {p}" for p, n in Counter(seen).items() if n > 1]
    problems += [f"out of order after {a}: {b}" for a, b in itertools.pairwise(seen) if b <= a]
    problems += [
        f"skipped {p}" for p in sorted(set(range(1, max(seen, default=0) + 1)) - set(seen))
    ]
    return problems


def write(ledger: Ledger, worker: int, errors: list[BaseException], retries: Counter[int]) -> None:
    own = f"acct-w{worker}"
    try:
        for i in range(APPENDS_EACH):
            note = f"w{worker}-{i}"
            event = Deposited(amount=Decimal(i), note=note)
            if i % 2:
                with ledger.write() as uow:
                    uow.append([NewEvent(own, event, T0)], {own: i // 2})
                continue
            while True:  # the hot stream: expected-version conflicts, retried
                try:
                    with ledger.write() as uow:
                        version = uow.stream_versions([HOT])[HOT]
                        uow.append([NewEvent(HOT, event, T0)], {HOT: version})
                    break
                except ConcurrencyError:
                    retries[worker] += 1
    except BaseException as exc:  # surfaced by the test thread
        errors.append(exc)


@pytest.fixture
def reader_for(store_ledger: Ledger) -> Poll:
    def poll(after: int) -> list[int]:
        with store_ledger.read() as conn:
            return [e.position for e in store_ledger.store.read_page(conn, after, limit=100)]

    return poll


def test_concurrent_writers_lose_and_duplicate_nothing_and_a_reader_sees_all_once(
    store_ledger: Ledger, reader_for: Poll
) -> None:
    errors: list[BaseException] = []
    retries: Counter[int] = Counter()
    done = threading.Event()
    reader = CatchUpReader(reader_for, done)
    writers = [
        threading.Thread(target=write, args=(store_ledger, w, errors, retries))
        for w in range(WRITERS)
    ]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=60)

    assert errors == []
    total = WRITERS * APPENDS_EACH
    with store_ledger.read() as conn:
        rows = conn.execute(
            text(
                "SELECT position, stream_id, stream_version, payload FROM ledger_events ORDER BY position"
            )
        ).all()
    assert [r.position for r in rows] == list(range(1, total + 1))
    versions: dict[str, list[int]] = {}
    for r in rows:
        versions.setdefault(r.stream_id, []).append(r.stream_version)
    assert versions[HOT] == list(range(1, WRITERS * APPENDS_EACH // 2 + 1))
    for w in range(WRITERS):
        assert versions[f"acct-w{w}"] == list(range(1, APPENDS_EACH // 2 + 1))
    notes = Counter(store_ledger.registry.decode("Deposited", 1, r.payload).note for r in rows)  # type: ignore[attr-defined]
    assert set(notes.values()) == {1}
    assert len(notes) == total
    assert sum(retries.values()) > 0, "the hot stream never conflicted: the test proved nothing"
    assert reader.seen == list(range(1, total + 1)), skipped_or_repeated(reader.seen)[:5]
    assert store_ledger.verify().ok


def test_a_late_committing_append_is_never_skipped_by_a_reader(
    store_ledger: Ledger, reader_for: Poll
) -> None:
    """The first appender holds its transaction open; the second must wait, not overtake."""
    first = store_ledger.write()
    uow = first.__enter__()
    uow.append([NewEvent("acct-a", Deposited(amount=Decimal(1)), T0)], {"acct-a": NO_STREAM})

    second_done = threading.Event()

    def second_append() -> None:
        with store_ledger.write() as other:
            other.append(
                [NewEvent("acct-b", Deposited(amount=Decimal(2)), T0)], {"acct-b": NO_STREAM}
            )
        second_done.set()

    thread = threading.Thread(target=second_append)
    thread.start()
    time.sleep(0.3)
    assert not second_done.is_set(), "the second appender overtook an uncommitted first one"
    assert reader_for(0) == []

    first.__exit__(None, None, None)
    thread.join(timeout=10)
    assert reader_for(0) == [1, 2]


def test_the_reader_check_catches_a_naive_sequence(store_ledger: Ledger) -> None:
    """Why the head lock exists: with a sequence, position 2 can commit before position 1,
    and a reader that has moved past 2 never sees 1. The checks above would report it."""
    engine: Engine = store_ledger.engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS naive_events")
        conn.exec_driver_sql(
            "CREATE TABLE naive_events (position bigserial PRIMARY KEY, note text)"
        )
    try:
        slow: Connection = engine.connect()
        slow.begin()
        slow.exec_driver_sql("INSERT INTO naive_events (note) VALUES ('slow')")  # takes 1
        with engine.begin() as fast:
            fast.exec_driver_sql("INSERT INTO naive_events (note) VALUES ('fast')")  # takes 2
        seen: list[int] = []

        def poll(after: int) -> list[int]:
            with engine.connect() as conn:
                return list(
                    conn.execute(
                        text(
                            "SELECT position FROM naive_events WHERE position > :a ORDER BY position"
                        ),
                        {"a": after},
                    ).scalars()
                )

        seen += poll(0)
        slow.commit()
        slow.close()
        seen += poll(seen[-1])
        assert skipped_or_repeated(seen) == ["skipped 1"]
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE naive_events")
