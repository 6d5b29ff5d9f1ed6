"""Snapshots: a command folds only the events after its stream's snapshot, and a snapshot
that no longer matches its stream is never trusted."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain import commands as c
from ledger.domain.party import Party
from ledger.service import Context, State, execute
from ledger.service.state import SNAPSHOT_FROM_VERSION
from ledger.snapshots import Snapshot, Snapshots
from ledger.unit_of_work import Ledger, UnitOfWork

CTX = Context(actor="ops", source="cli")
STREAM = "party-anthropic"


def change_limit(ledger: Ledger, value: int) -> None:
    execute(
        ledger,
        c.ChangeLimit(
            tenant="anthropic",
            plan="claude-code-pro",
            limit="requests-per-5h",
            operation="set",
            value=Decimal(value),
            reason="tuning",
        ),
        CTX,
    )


@pytest.fixture
def tenant(ledger: Ledger) -> Ledger:
    execute(ledger, c.RegisterParty(party_id="anthropic", name="Anthropic", roles=("tenant",)), CTX)
    return ledger


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(stream, first version) of every stream a command reads."""
    seen: list[tuple[str, int]] = []
    read_stream = UnitOfWork.read_stream

    def spy(uow: UnitOfWork, stream_id: str, *, from_version: int = 1) -> Any:
        seen.append((stream_id, from_version))
        return read_stream(uow, stream_id, from_version=from_version)

    monkeypatch.setattr(UnitOfWork, "read_stream", spy)
    return seen


def party_state(ledger: Ledger) -> Party:
    with ledger.write(commit=False) as uow:
        party = State(uow).party("anthropic")
    assert party is not None
    return party


def test_a_command_folds_only_what_follows_its_streams_snapshot(
    tenant: Ledger, reads: list[tuple[str, int]]
) -> None:
    for value in range(SNAPSHOT_FROM_VERSION - 1):  # the last one loads version 31
        change_limit(tenant, 100 + value)
    assert tenant.snapshots.get(STREAM) is None  # short streams are folded from the start
    change_limit(tenant, 200)  # loads version 32: a snapshot at last
    reads.clear()

    change_limit(tenant, 201)

    assert reads == [(STREAM, SNAPSHOT_FROM_VERSION)]  # not from 1
    snapshot = tenant.snapshots.get(STREAM)
    assert snapshot is not None
    assert snapshot.version == SNAPSHOT_FROM_VERSION + 1
    fresh = Ledger(tenant.engine, tenant.registry)  # no snapshots: folds from the start
    assert party_state(tenant) == party_state(fresh)
    assert party_state(fresh).version == SNAPSHOT_FROM_VERSION + 2


def test_a_snapshot_that_does_not_match_its_stream_is_folded_afresh(
    tenant: Ledger, reads: list[tuple[str, int]]
) -> None:
    for value in range(SNAPSHOT_FROM_VERSION):
        change_limit(tenant, 100 + value)
    kept = tenant.snapshots.get(STREAM)
    assert kept is not None
    # A state the stream never had (books closed far ahead), under a hash it does not have:
    # trusted, it would refuse the next change as period_closed.
    forged = dataclasses.replace(kept.state, closed_through=datetime(2100, 1, 1, tzinfo=UTC))  # type: ignore[type-var]
    tenant.snapshots.put(STREAM, Snapshot(kept.version, "f" * 64, forged))
    reads.clear()

    change_limit(tenant, 110)

    assert reads == [(STREAM, kept.version), (STREAM, 1)]
    replaced = tenant.snapshots.get(STREAM)
    assert replaced is not None
    assert replaced.hash != "f" * 64
    assert party_state(tenant) == party_state(Ledger(tenant.engine, tenant.registry))
    assert replaced.state.closed_through is None  # type: ignore[attr-defined]


def test_snapshots_keep_the_most_recently_used_streams_last_fold() -> None:
    snapshots = Snapshots(size=2)
    snapshots.put("a", Snapshot(1, "h1", "a1"))
    snapshots.put("b", Snapshot(1, "h1", "b1"))
    assert snapshots.get("a") is not None  # a is now the most recently used
    snapshots.put("c", Snapshot(1, "h1", "c1"))
    assert (snapshots.get("a"), snapshots.get("b")) == (Snapshot(1, "h1", "a1"), None)
    snapshots.put("a", Snapshot(3, "h3", "a3"))
    snapshots.put("a", Snapshot(2, "h2", "a2"))  # e.g. a refold after a stale snapshot
    assert snapshots.get("a") == Snapshot(2, "h2", "a2")
    snapshots.clear()
    assert snapshots.get("a") is None
