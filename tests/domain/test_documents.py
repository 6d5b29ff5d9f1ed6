"""Contract documents: the projection's JSON form of a contract state.

`to_document` splices cached allocation fragments into the document instead of serialising
the whole contract on every event; these tests hold the result to the canonical form and to
the state it came from.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from sqlalchemy import select

from ledger.canonical import canonical_json
from ledger.demo import load_demo
from ledger.projections.documents import from_document, to_document
from ledger.tables import projection_sets
from ledger.unit_of_work import Ledger


@pytest.fixture
def documents(ledger: Ledger) -> list[str]:
    load_demo(ledger)
    contracts = projection_sets["a"].contracts
    with ledger.read() as conn:
        return list(conn.execute(select(contracts.c.document)).scalars())


def test_every_stored_document_is_canonical_json(documents: list[str]) -> None:
    with_allocations = [d for d in documents if orjson.loads(d)["allocations"]]
    assert len(with_allocations) >= 4  # the demo lease, through its allocation changes

    for document in documents:
        assert canonical_json(orjson.loads(document)).decode() == document


def test_a_document_round_trips_through_the_contract_state(documents: list[str]) -> None:
    for document in documents:
        assert to_document(from_document(document)) == document


def test_an_allocation_seen_before_is_not_served_from_a_stale_fragment(
    documents: list[str],
) -> None:
    # Two states that differ only in one allocation's changes: the second document must
    # show the second state's changes, whichever allocation objects were cached first.
    longest, index = max(
        ((d, i) for d in documents for i in range(len(orjson.loads(d)["allocations"]))),
        key=lambda found: len(orjson.loads(found[0])["allocations"][found[1]]["changes"]),
    )
    state = from_document(longest)
    changed = state.allocations[index]
    assert len(changed.changes) >= 2
    allocations = list(state.allocations)
    allocations[index] = replace(changed, changes=changed.changes[:1])
    shorter = replace(state, allocations=tuple(allocations))

    assert to_document(state) == longest
    assert len(orjson.loads(to_document(shorter))["allocations"][index]["changes"]) == 1
    assert to_document(state) == longest
