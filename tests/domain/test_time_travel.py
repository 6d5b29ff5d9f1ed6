"""The demo scenario end to end: as_of / known_at, changes(), rebuild and check."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sqlalchemy import select, text

from ledger import read
from ledger.demo import LEASE, ORBITAL, SCENARIO, load_demo
from ledger.projections.rebuild import check, rebuild
from ledger.read import Amounts
from ledger.tables import projection_sets
from ledger.unit_of_work import Ledger


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.fixture
def demo(ledger: Ledger) -> Ledger:
    load_demo(ledger)
    return ledger


def position_before_correction(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(
            conn.execute(
                text("SELECT max(position) FROM ledger_events WHERE type <> 'AllocationResized'")
            ).scalar_one()
        )


def test_loading_the_demo_twice_appends_nothing_the_second_time(demo: Ledger) -> None:
    head = demo.head()
    assert load_demo(demo) == 0
    assert demo.head() == head
    assert head.position == len(SCENARIO) + 1  # signing appends to the contract and facility
    assert demo.verify().ok


def test_entitlements_differ_between_what_was_known_then_and_now(demo: Ledger) -> None:
    then = position_before_correction(demo)
    with demo.read() as conn:
        known_then = read.entitlements(conn, "anthropic", at("2026-07-01"), known_at=then)
        known_now = read.entitlements(conn, "anthropic", at("2026-07-01"))
        may = read.entitlements(conn, "anthropic", at("2026-05-20"))

    [gpu_then] = [c for c in known_then.capacity if c.resource == "gpu.h100"]
    [gpu_now] = [c for c in known_now.capacity if c.resource == "gpu.h100"]
    assert (gpu_then.contracted, gpu_then.allocated, gpu_then.unallocated) == (220_000, 220_000, 0)
    assert (gpu_now.contracted, gpu_now.allocated, gpu_now.unallocated) == (
        220_000,
        210_000,
        10_000,
    )
    assert {w.workload: w.quantity for w in gpu_now.workloads} == {
        "api-opus": Decimal(60_000),
        "claude-code": Decimal(100_000),
        "training": Decimal(50_000),
    }
    [gpu_may] = [c for c in may.capacity if c.resource == "gpu.h100"]
    assert gpu_may.allocated == 220_000  # the correction starts on 1 June
    assert known_then.known_at.position == then
    assert known_now.known_at.position == demo.head().position


def test_limits_show_the_doubling_and_the_removed_peak_cap(demo: Ledger) -> None:
    with demo.read() as conn:
        before = {(v.plan, v.limit): v for v in read.limits(conn, "anthropic", at("2026-05-01"))}
        after = {(v.plan, v.limit): v for v in read.limits(conn, "anthropic", at("2026-06-01"))}

    assert before[("claude-code-max", "requests-per-5h")].value == 225
    assert after[("claude-code-max", "requests-per-5h")].value == 450
    assert after[("claude-code-pro", "requests-per-5h")].value == 90
    assert before[("claude-code-max", "peak-hour-cap")].value == 100
    peak = after[("claude-code-max", "peak-hour-cap")]
    assert (peak.value, peak.unlimited) == (None, True)
    assert after[("api-opus", "requests-per-minute")].value == 10_000


def test_changes_since_before_the_correction_name_exactly_the_corrected_interval(
    demo: Ledger,
) -> None:
    then = position_before_correction(demo)
    with demo.read() as conn:
        report = read.changes(conn, "anthropic", since_position=then)

    assert [(i.resource, i.valid_from, i.valid_to) for i in report.items] == [
        ("gpu.h100", at("2026-06-01"), at("2028-05-06"))
    ]
    [item] = report.items
    assert item.before == Amounts(contracted=Decimal(220_000), allocated=Decimal(220_000))
    assert item.after == Amounts(contracted=Decimal(220_000), allocated=Decimal(210_000))
    assert report.since_position == then


def test_the_timeline_is_the_step_function_over_the_requested_window(demo: Ledger) -> None:
    with demo.read() as conn:
        items = read.timeline(
            conn, "anthropic", at("2026-05-01"), at("2028-06-01"), resource="gpu.h100"
        )

    assert [(i.valid_from, i.valid_to, i.contracted, i.allocated) for i in items] == [
        (at("2026-05-01"), at("2026-05-06"), 0, 0),
        (at("2026-05-06"), at("2026-06-01"), 220_000, 220_000),
        (at("2026-06-01"), at("2028-05-06"), 220_000, 210_000),
        (at("2028-05-06"), at("2028-06-01"), 0, 0),
    ]


def test_the_unsigned_orbital_draft_stays_out_of_every_entitlement(demo: Ledger) -> None:
    with demo.read() as conn:
        later = read.entitlements(conn, "anthropic", at("2029-01-01"))
        orbital = read.contract(conn, ORBITAL, at("2029-01-01"))
        lease = read.contract(conn, LEASE, at("2026-07-01"))

    assert later.capacity == []
    assert ORBITAL not in [c.contract_id for c in later.contracts]
    assert orbital.status == "draft"
    assert (lease.status, lease.version) == ("active", 6)
    assert {a.allocation_id: a.quantity for a in lease.allocations}["alc_api-opus"] == 60_000


def test_facility_utilisation_shows_the_reservation(demo: Ledger) -> None:
    with demo.read() as conn:
        colossus = read.facility(conn, "colossus-1", at("2026-07-01"))

    gpu = next(r for r in colossus.resources if r.resource == "gpu.h100")
    assert (gpu.capacity, gpu.reserved, gpu.free) == (220_000, 220_000, 0)
    assert {(c.contract_id, c.tenant) for c in colossus.contracts} == {(LEASE, "anthropic")}


def table_rows(ledger: Ledger, name: str) -> dict[str, list[tuple[object, ...]]]:
    tables = projection_sets[name]
    with ledger.read() as conn:
        timeline = sorted(
            tuple(r)
            for r in conn.execute(select(*[c for c in tables.timeline.columns if c.name != "id"]))
        )
        contracts = sorted(
            tuple(r)
            for r in conn.execute(select(*[c for c in tables.contracts.columns if c.name != "id"]))
        )
        series = sorted(tuple(r) for r in conn.execute(select(tables.series)))
    return {"timeline": timeline, "contracts": contracts, "series": series}


def test_rebuild_reproduces_the_inline_tables_exactly_and_swaps_them_in(demo: Ledger) -> None:
    inline = table_rows(demo, "a")
    assert inline["timeline"]

    report = rebuild(demo)

    assert report.active == "b"
    assert table_rows(demo, "b") == inline
    assert check(demo).ok
    with demo.read() as conn:
        assert (
            read.entitlements(conn, "anthropic", at("2026-07-01")).capacity[0].allocated == 210_000
        )


def shrink_training(ledger: Ledger) -> None:
    """Training goes from 50,000 to 40,000 GPUs from 1 September 2026."""
    from ledger.domain.commands import ResizeAllocation
    from ledger.service import execute

    execute(
        ledger,
        ResizeAllocation(
            contract_id=LEASE,
            allocation_id="alc_training",
            quantity=Decimal(40_000),
            effective_at=at("2026-09-01"),
            reason="training scaled down",
        ),
    )


def test_a_rebuild_reads_in_ranges_and_catches_up_with_writes_made_meanwhile(
    demo: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.projections import rebuild as rebuilding

    monkeypatch.setattr(rebuilding, "PAGE", 3)
    read_range = demo.store.read_range
    pages: list[int] = []

    def read_and_write_meanwhile(*args: object, **kwargs: object) -> list[object]:
        page = read_range(*args, **kwargs)  # type: ignore[arg-type]
        pages.append(len(page))
        if len(pages) == 2:  # a writer lands while the replay is under way
            shrink_training(demo)
        return page  # type: ignore[return-value]

    monkeypatch.setattr(demo.store, "read_range", read_and_write_meanwhile)
    head = demo.head().position
    report = rebuild(demo)
    assert pages[:3] == [3, 3, 3]
    assert report.events == head + 1
    assert check(demo).ok
    with demo.read() as conn:
        [gpu] = read.entitlements(conn, "anthropic", at("2026-10-01")).capacity[:1]
    assert gpu.allocated == 200_000


def test_writes_after_a_rebuild_land_in_the_new_tables(demo: Ledger) -> None:
    rebuild(demo)

    shrink_training(demo)
    assert check(demo).ok
    with demo.read() as conn:
        [gpu] = read.entitlements(conn, "anthropic", at("2026-10-01")).capacity[:1]
    assert gpu.allocated == 200_000


def test_check_projections_exits_1_when_a_row_was_altered(demo: Ledger) -> None:
    call_command("check_projections")
    with demo.engine.begin() as conn:
        conn.exec_driver_sql(
            'UPDATE ledger_timeline_a SET value = \'{"c:forged":"1"}\' WHERE id = (SELECT max(id) FROM ledger_timeline_a)'
        )

    with pytest.raises(CommandError, match="projections differ") as failure:
        call_command("check_projections")
    assert failure.value.returncode == 1


@pytest.mark.parametrize(
    ("table", "assignment"),
    [
        ("contracts", "tenant = 'acme-ai'"),
        ("contracts", "provider = 'acme-ai'"),
        ("contracts", "facility = 'elsewhere'"),
        ("contracts", "term_start = term_end"),
        ("contracts", "term_end = term_start"),
        ("contracts", "terminated_at = term_start"),
        ("allocations", "version = version + 1"),
        ("allocations", "allocation_id = 'alc_forged'"),
    ],
)
def test_check_projections_compares_every_column_of_contract_and_allocation_rows(
    demo: Ledger, table: str, assignment: str
) -> None:
    """Readers use each column (the tenant for access checks, the term for statuses): a
    row differing from the replay in any of them is a difference."""
    call_command("check_projections")
    with demo.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE ledger_{table}_a SET {assignment} WHERE id = (SELECT max(id) FROM"
            f" ledger_{table}_a WHERE contract_id = '{LEASE}')"
        )

    with pytest.raises(CommandError, match="projections differ"):
        call_command("check_projections")


def test_check_projections_compares_timestamps_as_stored(demo: Ledger) -> None:
    """SQLite stores a timestamp as text and readers compare it as text: the same instant
    spelled another way (an ISO week date) orders otherwise, and is a difference."""
    if demo.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL stores instants, not their spelling")
    call_command("check_projections")
    with demo.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE ledger_contracts_a SET term_start = '2026-W19-3T00:00:00Z' WHERE id ="
            f" (SELECT max(id) FROM ledger_contracts_a WHERE contract_id = '{LEASE}')"
        )

    with pytest.raises(CommandError, match="projections differ"):
        call_command("check_projections")


def test_rebuild_projections_command_then_check_passes(
    demo: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("rebuild_projections")
    call_command("check_projections")
    out = capsys.readouterr().out
    assert f"rebuilt {demo.head().position} events into set 'b'" in out
    assert "projections match" in out


def test_unknown_tenant_is_not_found(demo: Ledger) -> None:
    from ledger.errors import NotFound

    with demo.read() as conn, pytest.raises(NotFound):
        read.entitlements(conn, "nobody", at("2026-07-01"))


@pytest.mark.parametrize("batch", [read.BATCH, 1])
def test_contract_lists_read_on_in_batches_until_the_page_is_full(
    demo: Ledger, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    # The module, not `read.contracts` (the function it exports): `contracts()` reads BATCH there.
    monkeypatch.setattr(sys.modules["ledger.read.contract_reads"], "BATCH", batch)
    as_of = datetime(2026, 7, 1, tzinfo=UTC)
    with demo.read(transaction=False) as conn:
        every = [v.id for v in read.contracts(conn, as_of)]
        assert every == sorted([LEASE, ORBITAL])
        assert [v.id for v in read.contracts(conn, as_of, status="active")] == [LEASE]
        assert [v.id for v in read.contracts(conn, as_of, status="draft")] == [ORBITAL]
        assert [v.id for v in read.contracts(conn, as_of, limit=1)] == every[:1]
        assert [v.id for v in read.contracts(conn, as_of, after=every[0])] == every[1:]
        assert read.contracts(conn, as_of, limit=0) == []
