"""Contract documents: the projection's JSON form of a contract state.

A contract is stored as its own document plus one document per allocation; an allocation
event rewrites that allocation's row only. These tests hold the documents to the canonical
form and to the state they came from, and the write pattern to what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from ledger.canonical import canonical_json
from ledger.demo import LEASE, load_demo
from ledger.domain.aggregates import fold
from ledger.domain.commands import ResizeAllocation
from ledger.domain.contract import Allocation, AllocationChange
from ledger.projections.documents import allocation_document, from_document, to_document
from ledger.projections.series import SeriesKey, SqlSeriesStore
from ledger.service import Context, execute
from ledger.tables import KNOWN_FOREVER, projection_sets
from ledger.unit_of_work import Ledger

TABLES = projection_sets["a"]


@pytest.fixture
def demo(ledger: Ledger) -> Ledger:
    load_demo(ledger)
    return ledger


def current_rows(ledger: Ledger) -> tuple[dict[str, str], dict[str, list[tuple[int, str]]]]:
    c, a = TABLES.contracts, TABLES.allocations
    with ledger.read() as conn:
        contracts = dict(
            conn.execute(
                select(c.c.contract_id, c.c.document).where(c.c.known_to == KNOWN_FOREVER)
            ).all()
        )
        allocations: dict[str, list[tuple[int, str]]] = {cid: [] for cid in contracts}
        for contract_id, version, document in conn.execute(
            select(a.c.contract_id, a.c.version, a.c.document).where(a.c.known_to == KNOWN_FOREVER)
        ):
            allocations[contract_id].append((version, document))
    return contracts, allocations


def test_every_stored_document_is_canonical_json(demo: Ledger) -> None:
    contracts, allocations = current_rows(demo)
    documents = [*contracts.values(), *(d for rows in allocations.values() for _, d in rows)]
    assert len(allocations[LEASE]) >= 3  # the demo lease's workloads

    for document in documents:
        assert canonical_json(orjson.loads(document)).decode() == document


def test_a_contract_round_trips_through_its_documents(demo: Ledger) -> None:
    contracts, allocations = current_rows(demo)

    for contract_id, document in contracts.items():
        state = from_document(document, allocations[contract_id])
        assert to_document(state) == document.replace(
            f'"version":{orjson.loads(document)["version"]}', f'"version":{state.version}'
        )
        assert sorted(allocation_document(a) for a in state.allocations) == sorted(
            d for _, d in allocations[contract_id]
        )


def test_the_stored_rows_give_back_the_state_folded_from_the_stream(demo: Ledger) -> None:
    contracts, allocations = current_rows(demo)
    with demo.read() as conn:
        for contract_id, document in contracts.items():
            folded = fold(demo.store.read_stream(conn, f"contract-{contract_id}"), demo.registry)
            assert from_document(document, allocations[contract_id]) == folded


def test_a_series_registered_without_a_unit_gets_one_later(demo: Ledger) -> None:
    key = SeriesKey("tenant-x", "capacity", "gpu.b300")
    series = TABLES.series
    with demo.write() as uow:
        SqlSeriesStore(uow.conn, TABLES).register(key, None)
    with demo.write() as uow:
        SqlSeriesStore(uow.conn, TABLES).register(key, "gpu")
        SqlSeriesStore(uow.conn, TABLES).register(key, "rack")  # the first unit stays
    with demo.read() as conn:
        units = conn.execute(select(series.c.unit).where(series.c.owner == "tenant-x")).all()
    assert [tuple(u) for u in units] == [("gpu",)]


def test_an_allocation_event_writes_one_allocation_row_and_no_contract_row(demo: Ledger) -> None:
    c, a = TABLES.contracts, TABLES.allocations
    _, allocations = current_rows(demo)
    allocation_id = orjson.loads(allocations[LEASE][0][1])["allocation_id"]

    def counts() -> tuple[int, int]:
        with demo.read() as conn:
            return (
                conn.execute(select(func.count()).select_from(c)).scalar_one(),
                conn.execute(select(func.count()).select_from(a)).scalar_one(),
            )

    contract_rows, allocation_rows = counts()
    execute(
        demo,
        ResizeAllocation(
            contract_id=LEASE, allocation_id=allocation_id, quantity=1, reason="rebalance"
        ),
        Context(actor="ops@example.com", source="cli"),
    )

    assert counts() == (contract_rows, allocation_rows + 1)


changes = st.builds(
    AllocationChange,
    st.datetimes(timezones=st.just(UTC)),
    st.integers(1, 10**9),
    st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False),
    st.booleans(),
)


@given(
    st.text(min_size=1, max_size=8),
    st.text(min_size=1, max_size=8),
    st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    st.lists(changes, min_size=1, max_size=6),
    st.booleans(),
)
def test_an_allocation_document_is_the_canonical_json_of_the_allocation(
    workload: str,
    resource: str,
    until: datetime | None,
    made: list[AllocationChange],
    released: bool,
) -> None:
    allocation = Allocation("a-1", workload, resource, until, tuple(made), released)

    # Twice: the second rendering comes from the caches of changes and fields.
    for _ in range(2):
        assert (
            allocation_document(allocation)
            == canonical_json(
                {
                    "allocation_id": "a-1",
                    "workload": workload,
                    "resource": resource,
                    "until": until,
                    "released": released,
                    "changes": [
                        {
                            "effective_at": c.effective_at,
                            "position": c.position,
                            "quantity": c.quantity,
                            "released": c.released,
                        }
                        for c in made
                    ],
                }
            ).decode()
        )
