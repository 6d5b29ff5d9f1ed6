"""Audit export throughput and memory, against a raw read of the same rows, same run.

What is measured, in a fresh throwaway database holding `--sizes` events (default 100,000
then 1,000,000; ~300-byte payloads, appended in bulk through the store):

  raw     `SELECT * FROM ledger_events WHERE position <= N ORDER BY position`, streamed in
          pages of 1,000 (`yield_per`: a server-side cursor on PostgreSQL), rows counted.
  export  `ledger.export.export_chunks` (what `export_audit` and GET /audit/export run):
          JSONL of canonical envelopes, written to a file, up to position N.

Each runs in a fresh child process, so its peak RSS (VmHWM) is its own. Targets:
export >= 40% of the raw read's events/s; the export's peak RSS at the largest size
within 10% of that at the smallest (memory does not grow with the export).

Usage: python bench/export.py [--sizes 100000 1000000] [--format jsonl|csv]
                              [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    NOISE_NOTE,
    EventSource,
    backend_label,
    console,
    create_ledger_schema,
    database_url_argument,
    make_progress,
    new_event,
    registry,
    throwaway_database,
)
from rich.table import Table
from sqlalchemy import select

from ledger.export import ExportFilter, Tally, export_chunks, resolve
from ledger.sql.engine import make_engine
from ledger.sql.events import ENVELOPE_COLUMNS
from ledger.store import ANY
from ledger.tables import events
from ledger.unit_of_work import Ledger

BATCH = 1_000


def load(url: str, upto: int, progress_label: str) -> None:
    """Append events until the ledger holds `upto` of them."""
    ledger = Ledger(make_engine(url), registry)
    try:
        have = ledger.head().position
        source = EventSource()
        source.take(have)  # the same deterministic sequence, continued
        with make_progress() as progress:
            task = progress.add_task(progress_label, total=upto, completed=have)
            while have < upto:
                batch = [new_event(spec) for spec in source.take(min(BATCH, upto - have))]
                with ledger.write() as uow:
                    uow.append(batch, dict.fromkeys((e.stream_id for e in batch), ANY))
                have += len(batch)
                progress.update(task, completed=have)
    finally:
        ledger.engine.dispose()


def peak_rss_kib() -> int:
    """This process's peak resident set since it exec'd (VmHWM). Not ru_maxrss: on Linux
    that survives exec, so a child would report the peak of the parent it forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(url: str, workload: str, size: int, fmt: str, output: str) -> None:
    """Runs in its own process: one workload, then its figures as JSON on stdout."""
    engine = make_engine(url)
    started = time.perf_counter()
    written = 0
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if workload == "raw":
            query = select(*ENVELOPE_COLUMNS).where(events.c.position <= size)
            result = conn.execution_options(yield_per=BATCH).execute(
                query.order_by(events.c.position)
            )
            count = sum(len(rows) for rows in result.partitions())
        else:
            wanted = resolve(conn, ExportFilter(up_to=size))
            tally = Tally()
            with open(output, "wb") as file:
                for chunk in export_chunks(conn, wanted, fmt, tally):  # type: ignore[arg-type]
                    file.write(chunk)
                    written += len(chunk)
            count = tally.count
    seconds = time.perf_counter() - started
    peak_kib = peak_rss_kib()
    print(json.dumps({"count": count, "seconds": seconds, "bytes": written, "peak_kib": peak_kib}))


def run_child(url: str, workload: str, size: int, fmt: str, output: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", workload, url, str(size), fmt, str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"the {workload} child failed:\n{result.stderr}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["count"] == size, figures
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        workload, url, size, fmt, output = sys.argv[2:7]
        child(url, workload, int(size), fmt, output)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    database_url_argument(parser)
    args = parser.parse_args()
    label = backend_label(args.database_url)
    console.print(f"[bold]export benchmark[/] on {label}: sizes {args.sizes}, {args.format}")
    rows = []
    with (
        throwaway_database(args.database_url, f"bench_export_{os.getpid()}") as url,
        tempfile.TemporaryDirectory(prefix="ledger-export-") as scratch,
    ):
        create_ledger_schema(url)
        for size in sorted(args.sizes):
            load(url, size, f"append up to {size:,} events")
            output = Path(scratch) / f"export.{args.format}"
            raw = run_child(url, "raw", size, args.format, output)
            export = run_child(url, "export", size, args.format, output)
            rows.append((size, raw, export))
            output.unlink(missing_ok=True)
    print_results(label, args.format, rows)


def print_results(
    label: str, fmt: str, rows: list[tuple[int, dict[str, float], dict[str, float]]]
) -> None:
    table = Table(title=f"Export ({fmt}) against a raw read - {label}")
    for column in (
        "events",
        "raw ev/s",
        "export ev/s",
        "export MB/s",
        "export / raw",
        "raw peak RSS MiB",
        "export peak RSS MiB",
    ):
        table.add_column(column, justify="right")
    for size, raw, export in rows:
        raw_rate, export_rate = size / raw["seconds"], size / export["seconds"]
        ratio = export_rate / raw_rate
        table.add_row(
            f"{size:,}",
            f"{raw_rate:,.0f}",
            f"{export_rate:,.0f}",
            f"{export['bytes'] / export['seconds'] / 1e6:,.1f}",
            f"{ratio:.2f} ({'met' if ratio >= 0.40 else 'missed'} >= 0.40)",
            f"{raw['peak_kib'] / 1024:,.0f}",
            f"{export['peak_kib'] / 1024:,.0f}",
        )
    console.print(table)
    if len(rows) > 1:
        small, large = rows[0][2]["peak_kib"], rows[-1][2]["peak_kib"]
        growth = large / small - 1
        verdict = "met" if growth <= 0.10 else "missed"
        console.print(
            f"export peak RSS, {rows[-1][0]:,} vs {rows[0][0]:,} events: {growth:+.1%} "
            f"(target within 10%: {verdict})"
        )
    console.print(NOISE_NOTE)


if __name__ == "__main__":
    main()
