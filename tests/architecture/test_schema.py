"""One `migrate` owns both schemas; alembic's migrations match the SQLAlchemy metadata."""

from __future__ import annotations

from contextlib import ExitStack

import orjson
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from django.core.management import call_command
from sqlalchemy import create_engine, func, inspect, make_url, select, update
from sqlalchemy.exc import DBAPIError

from contracts.runtime import get_ledger
from contracts.schema import alembic_config
from ledger import read
from ledger.bootstrap import build_ledger
from ledger.demo import load_demo
from ledger.domain import registry
from ledger.domain.commands import RegisterParty
from ledger.errors import ProjectionsOutdated
from ledger.projections import bulk
from ledger.projections.documents import from_document
from ledger.projections.rebuild import check, rebuild
from ledger.read import directory
from ledger.service import execute
from ledger.sql.engine import make_engine
from ledger.tables import PROJECTION_FORMAT, metadata, projection_sets, projection_state
from ledger.unit_of_work import Ledger


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    return type_ != "table" or name in metadata.tables


def test_migrate_brought_django_and_the_ledger_to_head(ledger: Ledger) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "ledger_alembic_version"})
        assert context.get_current_revision() == head
        tables = set(inspect(conn).get_table_names())
    assert set(metadata.tables) <= tables
    assert {"auth_user", "django_session", "django_migrations"} <= tables


def test_autogenerate_finds_no_difference_after_migrating(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        assert compare_metadata(context, metadata) == []


def test_migrating_across_the_projection_format_change_rebuilds_the_projections(
    ledger: Ledger,
) -> None:
    # A ledger at the revision before allocation rows existed, with the demo's events (and
    # its projections as they were then: here, none at all). The events are written at
    # head: today's code writes today's schema (its idempotency records keep headers).
    load_demo(Ledger(ledger.engine, registry, clock=ledger.clock))
    config = alembic_config()
    with ledger.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
        for tables in projection_sets.values():
            for table in (tables.series, tables.timeline, tables.contracts):
                conn.execute(table.delete())
    with ledger.read() as conn:
        assert (
            conn.execute(select(func.count()).select_from(projection_sets["a"].series)).scalar_one()
            == 0
        )

    call_command("migrate", verbosity=0)

    with ledger.read() as conn:
        capacity = read.entitlements(conn, "anthropic", ledger.clock()).capacity
        assert [e.resource for e in capacity] == ["gpu.h100", "power.mw"]
        assert conn.execute(select(projection_state.c.format)).scalar_one() == PROJECTION_FORMAT
    assert check(get_ledger()).ok


def test_migrate_takes_up_a_rebuild_that_did_not_finish(ledger: Ledger) -> None:
    load_demo(get_ledger())
    with ledger.engine.begin() as conn:  # as a crash after upgrading, before rebuilding
        conn.execute(update(projection_state).values(format=PROJECTION_FORMAT - 1))
        active = conn.execute(select(projection_state.c.active)).scalar_one()

    call_command("migrate", verbosity=0)

    with ledger.read() as conn:
        state = conn.execute(select(projection_state.c.format, projection_state.c.active)).one()
    assert tuple(state) == (PROJECTION_FORMAT, "b" if active == "a" else "a")
    assert check(get_ledger()).ok


def test_a_contract_document_of_the_old_format_is_refused_not_misread() -> None:
    old = orjson.dumps({"contract_id": "ctr_x", "allocations": [], "version": 3}).decode()
    with pytest.raises(ProjectionsOutdated, match="migrate"):
        from_document(old)


def schema_differences(ledger: Ledger) -> list[object]:
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, metadata))


def test_a_rebuild_loads_without_indexes_and_leaves_the_schema_as_migrated(
    ledger: Ledger,
) -> None:
    load_demo(get_ledger())

    report = rebuild(get_ledger())

    assert report.active == "b"
    assert schema_differences(ledger) == []
    assert check(get_ledger()).ok


def test_an_interrupted_rebuild_leaves_the_active_set_whole_and_the_next_one_repairs_the_other(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    projected = get_ledger()
    load_demo(projected)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(projected.store, "read_range", crash)
        with pytest.raises(KeyboardInterrupt):
            rebuild(projected)

    dropped = {d[1].name for d in schema_differences(ledger) if d[0] == "add_index"}  # type: ignore[index]
    assert dropped == {index.name for index in bulk.indexes(projection_sets["b"])}
    with ledger.read() as conn:
        assert conn.execute(select(projection_state.c.active)).scalar_one() == "a"
        assert read.entitlements(conn, "anthropic", ledger.clock()).capacity

    rebuild(projected)

    assert schema_differences(ledger) == []
    assert check(projected).ok


@pytest.mark.postgres
def test_stream_prefixes_hold_in_a_database_whose_collation_ignores_punctuation(
    ledger: Ledger,
) -> None:
    """Under ICU's "shifted" collation (like glibc's en_US.UTF-8) punctuation is ignored,
    so "party-x" sorted after "party." and the party list came back empty: stream ids are
    compared byte by byte (alembic 0006)."""
    server = make_url(str(ledger.engine.url))
    name = f"{server.database}_punctuation_blind"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            try:
                conn.exec_driver_sql(
                    f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
                    " ICU_LOCALE 'en-u-ka-shifted' LOCALE 'C.UTF-8'"
                )
            except DBAPIError as exc:
                pytest.skip(f"this server cannot create an ICU database: {exc.orig}")
        url = server.set(database=name).render_as_string(hide_password=False)
        config = alembic_config()
        config.attributes["url"] = url
        command.upgrade(config, "head")
        engine = make_engine(url)
        try:
            blind = build_ledger(engine)
            for party in ("zeta", "a-b", "ab", "a"):
                execute(blind, RegisterParty(party_id=party, name=party, roles=("tenant",)))
            with blind.read() as conn:
                listed = [p.id for p in directory.parties(conn)]
                paged = [p.id for p in directory.parties(conn, after="a-b", limit=2)]
                fed = [r.stream_id for r in blind.store.read_page(conn, stream_prefix="party-")]
            assert listed == ["a", "a-b", "ab", "zeta"]
            assert paged == ["ab", "zeta"]
            assert fed == ["party-zeta", "party-a-b", "party-ab", "party-a"]
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_migrate_leaves_no_pooled_connection_with_plans_of_the_old_schema(
    ledger: Ledger,
) -> None:
    """A schema change can change what a prepared statement returns (0006 changes
    stream_id's collation), and PostgreSQL then refuses the statement on every connection
    that prepared it ("cached plan must not change result type"; seen in this suite when a
    test migrated across 0006): `migrate` closes the service's pooled connections once it
    has upgraded, so none that predates the upgrade is handed out again."""
    service = get_ledger()

    def pooled() -> list[object]:
        with ExitStack() as stack:
            return [
                stack.enter_context(service.read()).connection.driver_connection for _ in range(3)
            ]

    before = pooled()  # held: their ids cannot be reused by new connections

    call_command("migrate", verbosity=0)

    after = pooled()
    assert not [c for c in after if any(c is old for old in before)]


@pytest.mark.postgres
def test_stream_ids_are_collated_byte_by_byte(ledger: Ledger) -> None:
    """Autogenerate does not compare collations, so the schema comparison above cannot see
    a database without 0006's COLLATE "C": asked of the catalog directly."""
    with ledger.read() as conn:
        collation = conn.exec_driver_sql(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_name = 'ledger_events' AND column_name = 'stream_id'"
        ).scalar_one()
    assert collation == "C"
