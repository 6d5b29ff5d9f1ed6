"""Shared helpers for the scripts in bench/: throwaway databases, the ledger schema, the
benchmark's event type and its input data, timing, and the result tables.

Importing this module puts the repository root on `sys.path`, so the scripts can be run
as `python bench/<script>.py` from any directory and still import `ledger`: import it
before anything from `ledger`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402
from sqlalchemy import Engine, create_engine  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

from ledger.canonical import canonical_json  # noqa: E402
from ledger.events import Event, EventRegistry, Metadata, NewEvent  # noqa: E402
from ledger.sql.engine import normalise_url  # noqa: E402
from ledger.types import Quantity  # noqa: E402

console = Console()

STREAMS = 100
"""Events are spread round-robin over this many streams."""

SINGLE_STREAMS = 10_000
"""Number of the first stream the one-event-per-transaction workloads use."""

PAYLOAD_BYTES = 300
"""Target size of one event's canonical JSON payload."""

# -- command line ---------------------------------------------------------------------------


def database_url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help=(
            "server to benchmark on (default: $DATABASE_URL, else a SQLite file in a temp "
            "dir). Only used to reach the server: every run creates and drops its own "
            "database (PostgreSQL) or file (SQLite, next to the given file)."
        ),
    )


def backend_label(server_url: str | None) -> str:
    if server_url is None:
        return "SQLite (temp file)"
    url = normalise_url(server_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite ({Path(url.database or '').resolve().parent})"
    return f"PostgreSQL ({url.host}:{url.port or 5432})"


# -- throwaway databases --------------------------------------------------------------------


@contextmanager
def throwaway_database(server_url: str | None, name: str) -> Iterator[str]:
    """Yield the URL of a new, empty database called `name`; remove it afterwards.

    PostgreSQL: `server_url` is only used to connect to the server (its database acts as the
    maintenance database); `CREATE DATABASE name` beforehand, `DROP DATABASE` afterwards.
    SQLite: a fresh file in a temporary directory (next to the file `server_url` names, so
    it lives on the same disk), deleted with its WAL afterwards.
    """
    url = normalise_url(server_url) if server_url else None
    if url is None or url.get_backend_name() == "sqlite":
        parent = None
        if url is not None and url.database not in (None, "", ":memory:"):
            parent = Path(url.database or "").resolve().parent
        with tempfile.TemporaryDirectory(prefix="ledger-bench-", dir=parent) as directory:
            yield f"sqlite:///{Path(directory) / f'{name}.sqlite3'}"
        return
    yield from _postgres_database(url, name)


def _postgres_database(url: URL, name: str) -> Iterator[str]:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a pool left open by an aborted run must not keep the database alive.
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        admin.dispose()


def settle(engine: Engine) -> None:
    """Leave a freshly built database the way a server that has run for a while has it,
    before anything is timed against it.

    SQLite: fold the write-ahead log into the database file and truncate it, so the queries
    do not read through a log of many gigabytes (as a server's later checkpoints would).
    PostgreSQL: `VACUUM (ANALYZE)` and `CHECKPOINT`. Otherwise autovacuum and analyze wake
    up on the tables the build just filled, and run on this machine's two cores during the
    measurement (the bare one-SELECT endpoint was seen to drop from 2,082 to 1,308 req/s
    between a 50k and a 1M ledger).
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
        conn.exec_driver_sql("CHECKPOINT")


def create_ledger_schema(url: str) -> None:
    """Create the ledger's tables the way production does: alembic, up to head."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["url"] = url  # migrations/env.py prefers this over DATABASE_URL
    command.upgrade(config, "head")


# -- the benchmark event and its input data -------------------------------------------------

registry = EventRegistry()


@registry.register
class BenchEvent(Event):
    """A capacity movement; `note` pads the canonical payload to about PAYLOAD_BYTES."""

    event_type = "BenchEvent"
    tenant: str
    resource: str
    quantity: Quantity
    note: str


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event to append, in neutral form: each store builds its own input from it."""

    stream: int
    version: int
    """The version the event takes in its stream (1 for a stream's first event)."""
    tenant: str
    resource: str
    quantity: Decimal
    note: str
    effective_at: datetime
    actor: str

    @property
    def stream_name(self) -> str:
        return stream_name(self.stream)


def stream_name(index: int) -> str:
    return f"bench-stream-{index:04d}"


_NOTE_TEXT = (
    "capacity reserved for the quarterly batch window after the regional failover drill "
    "moved workloads between racks while the contract owner approved an exception ticket"
)


@dataclass
class EventSource:
    """Deterministic event specs, round-robin over `streams` streams numbered from
    `first_stream`, tracking each stream's version."""

    streams: int = STREAMS
    first_stream: int = 0
    seed: int = 20261126
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    issued: int = 0
    versions: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self._rng = rng
        words = _NOTE_TEXT.split()
        self._notes = [" ".join(rng.choices(words, k=60)) for _ in range(64)]
        self._note_length = self._fit_note_length()

    def _fit_note_length(self) -> int:
        probe = BenchEvent(
            tenant="tenant-00", resource="resource-0000", quantity=Decimal("123456.78"), note=""
        )
        return PAYLOAD_BYTES - len(canonical_json(probe.model_dump(mode="json")))

    def take(self, count: int) -> list[EventSpec]:
        specs = []
        for _ in range(count):
            number = self.issued
            self.issued += 1
            stream = self.first_stream + number % self.streams
            version = self.versions.get(stream, 0) + 1
            self.versions[stream] = version
            note = f"#{number:09d} {self._notes[number % len(self._notes)]}"
            specs.append(
                EventSpec(
                    stream=stream,
                    version=version,
                    tenant=f"tenant-{stream % 17:02d}",
                    resource=f"resource-{stream:04d}",
                    quantity=Decimal(self._rng.randrange(1, 100_000_000)) / 100,
                    note=note[: self._note_length],
                    effective_at=self.start + timedelta(seconds=number),
                    actor=f"user-{stream % 7}",
                )
            )
        return specs


def new_event(spec: EventSpec) -> NewEvent:
    """The ledger's input for `spec`."""
    return NewEvent(
        spec.stream_name,
        BenchEvent(
            tenant=spec.tenant, resource=spec.resource, quantity=spec.quantity, note=spec.note
        ),
        spec.effective_at,
        Metadata(actor=spec.actor, source="cli"),
    )


# -- timing ---------------------------------------------------------------------------------


@dataclass
class Stopwatch:
    """Accumulates the time spent inside `timing()` blocks and the events they handled."""

    label: str
    seconds: float = 0.0
    count: int = 0

    @contextmanager
    def timing(self, count: int) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start
            self.count += count

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def make_progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=4,
    )


# -- result tables --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """`numerator.rate / denominator.rate`, compared with a target."""

    name: str
    numerator: Stopwatch
    denominator: Stopwatch
    target: float

    @property
    def value(self) -> float:
        return self.numerator.rate / self.denominator.rate if self.denominator.rate else 0.0


def rates_table(
    title: str, watches: list[Stopwatch], unit: str = "events/s", noun: str = "event"
) -> Table:
    """One row per watch; `noun` names what a watch counts (events, commands ...)."""
    table = Table(title=title, title_justify="left")
    table.add_column("workload")
    table.add_column(f"{noun}s", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column(unit, justify="right")
    table.add_column(f"µs/{noun}", justify="right")
    for watch in watches:
        table.add_row(
            watch.label,
            f"{watch.count:,}",
            f"{watch.seconds:.3f}",
            f"{watch.rate:,.0f}",
            f"{1e6 / watch.rate:.1f}" if watch.rate else "-",
        )
    return table


def ratios_table(title: str, ratios: list[Ratio]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("ratio")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("verdict")
    for ratio in ratios:
        met = ratio.value >= ratio.target
        table.add_row(
            ratio.name,
            f"{ratio.value:.2f}",
            f">= {ratio.target:.2f}",
            "[green]meets target[/]" if met else "[red]below target[/]",
        )
    return table


NOISE_NOTE = (
    "Figures vary 5-20% between runs on this machine: "
    "only compare figures from one run, and read gaps under 20% as noise."
)
