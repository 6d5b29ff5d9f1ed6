"""The entitlement answer cache never answers differently from a fresh query."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ledger import read
from ledger.demo import LEASE, load_demo
from ledger.domain import commands as c
from ledger.service import Context, execute
from ledger.unit_of_work import Ledger

START = datetime(2025, 11, 1, tzinfo=UTC)


def instants() -> list[datetime]:
    """Every 5 days over the demo's life, plus every instant where something changes."""
    grid = [START + timedelta(days=5 * i) for i in range(260)]
    boundaries = [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 5, 6, tzinfo=UTC),
        datetime(2026, 5, 13, tzinfo=UTC),
        datetime(2026, 5, 20, tzinfo=UTC),
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2028, 5, 6, tzinfo=UTC),
    ]
    edges = [b + d for b in boundaries for d in (-timedelta(microseconds=1), timedelta(0))]
    return sorted(grid + edges)


def compare(
    ledger: Ledger, cache: read.AnswerCache, moments: list[datetime], known_at: int | None = None
) -> None:
    with ledger.read() as conn:
        for moment in moments:
            cached = read.entitlements(conn, "anthropic", moment, known_at, cache)
            fresh = read.entitlements(conn, "anthropic", moment, known_at)
            assert cached.model_dump_json() == fresh.model_dump_json(), moment


def test_cached_answers_equal_fresh_ones_as_time_moves_forward(ledger: Ledger) -> None:
    load_demo(ledger)
    cache = read.AnswerCache()
    compare(ledger, cache, instants())
    compare(ledger, cache, instants(), known_at=10)


def test_cached_answers_equal_fresh_ones_in_any_order(ledger: Ledger) -> None:
    load_demo(ledger)
    cache = read.AnswerCache()
    moments = instants()
    random.Random(7).shuffle(moments)
    compare(ledger, cache, moments)


def test_a_write_is_seen_at_once(ledger: Ledger) -> None:
    load_demo(ledger)
    cache = read.AnswerCache()
    moment = datetime(2026, 7, 1, tzinfo=UTC)
    compare(ledger, cache, [moment])
    execute(
        ledger,
        c.ResizeAllocation(
            contract_id=LEASE,
            allocation_id="alc_training",
            quantity=40_000,  # type: ignore[arg-type]
            effective_at=datetime(2026, 6, 15, tzinfo=UTC),
            reason="backdated shrink",
        ),
        Context(actor="ops"),
    )
    with ledger.read() as conn:
        answer = read.entitlements(conn, "anthropic", moment, None, cache)
    assert answer.capacity[0].allocated == 200_000
    compare(ledger, cache, instants())
