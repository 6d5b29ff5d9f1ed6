"""A caller scoped to one tenant (a tenant-bound API key) finds no other tenant's
contracts or books: the command's own load answers NotFound, and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledger.demo import LEASE, load_demo
from ledger.domain import commands as c
from ledger.domain.events import CapacityLine
from ledger.errors import NotFound
from ledger.service import Accepted, Context, execute
from ledger.unit_of_work import Ledger

AFTER = datetime(2026, 12, 10, tzinfo=UTC)
GPU = (CapacityLine(resource="gpu.h100", quantity=Decimal(1), unit="gpu"),)

FOREIGN = [
    c.SignContract(contract_id=LEASE, signed_by=("someone",)),
    c.AmendContract(contract_id=LEASE, effective_at=AFTER, capacity=GPU, reason="r"),
    c.TerminateContract(contract_id=LEASE, effective_at=AFTER, reason="r"),
    c.AllocateCapacity(contract_id=LEASE, workload="w", resource="gpu.h100", quantity=1),
    c.ResizeAllocation(contract_id=LEASE, allocation_id="alc_api-opus", quantity=1),
    c.ReleaseAllocation(contract_id=LEASE, allocation_id="alc_api-opus"),
    c.ChangeLimit(tenant="anthropic", plan="p", limit="l", operation="set", value=1, reason="r"),
    c.ClosePeriod(tenant="anthropic", through=datetime(2026, 1, 1, tzinfo=UTC), reason="r"),
    c.ReopenPeriod(tenant="anthropic", through=datetime(2026, 1, 1, tzinfo=UTC), reason="r"),
    c.DraftContract(
        provider="spacex",
        tenant="anthropic",
        facility="colossus-1",
        title="t",
        term={"start": AFTER, "end": datetime(2027, 1, 1, tzinfo=UTC)},  # type: ignore[arg-type]
        capacity=GPU,
    ),
]


@pytest.fixture
def demo(ledger: Ledger) -> Ledger:
    load_demo(ledger)
    return ledger


@pytest.mark.parametrize("command", FOREIGN, ids=lambda cmd: type(cmd).__name__)
def test_another_tenants_data_is_not_found_and_nothing_is_written(
    demo: Ledger, command: c.Command
) -> None:
    head = demo.head()
    scoped = Context(actor="api-key:other", tenant_scope="someone-else")
    with pytest.raises(NotFound) as refused:
        execute(demo, command, scoped)
    assert refused.value.kind in ("contract", "tenant", "party")
    assert demo.head() == head


def test_a_pinned_version_on_another_tenants_contract_is_not_found_not_a_conflict(
    demo: Ledger,
) -> None:
    scoped = Context(tenant_scope="someone-else", expected_version=1)
    with pytest.raises(NotFound):
        execute(
            demo, c.TerminateContract(contract_id=LEASE, effective_at=AFTER, reason="r"), scoped
        )


def test_a_revision_may_not_hand_a_draft_to_another_tenant(demo: Ledger) -> None:
    drafted = execute(demo, FOREIGN[-1], Context(tenant_scope="anthropic"))
    assert isinstance(drafted, Accepted)
    contract_id = str(drafted.result["contract_id"])
    head = demo.head()
    with pytest.raises(NotFound) as refused:
        execute(
            demo,
            c.ReviseDraft(contract_id=contract_id, tenant="spacex"),
            Context(tenant_scope="anthropic"),
        )
    assert refused.value.kind == "party"
    assert demo.head() == head


def test_the_tenants_own_data_is_found(demo: Ledger) -> None:
    scoped = Context(actor="api-key:anthropic", tenant_scope="anthropic")
    changed = execute(
        demo,
        c.ChangeLimit(
            tenant="anthropic", plan="p", limit="l", operation="set", value=1, reason="r"
        ),
        scoped,
    )
    assert isinstance(changed, Accepted)
    allocated = execute(
        demo,
        c.AllocateCapacity(contract_id=LEASE, workload="w", resource="power.mw", quantity=1),
        scoped,
    )
    assert isinstance(allocated, Accepted)
