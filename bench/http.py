"""HTTP throughput and latency of GET entitlements, against a bare endpoint, same run.

What is measured, in a fresh throwaway database (or one kept and reused between runs, since
building the ledger is the slow part: `--keep FILE`, a SQLite file, or `--keep-database
NAME`, a database on the PostgreSQL server of `--database-url`):

  1. the ledger of bench/projections.py: `--events` events of a seeded history, appended
     without projections, then `rebuild()` (the projected tables a real service has), then
     settled (`common.settle`: VACUUM (ANALYZE) and CHECKPOINT on PostgreSQL, so that
     autovacuum does not wake up on the new rows during the measurement);
  2. gunicorn serving the service (`--workers` sync workers; threaded ones ran erratically) on
     127.0.0.1, with one extra route, the baseline: a bare django-ninja endpoint doing
     one indexed SELECT on the same engine (bench/http_urls.py);
  3. wrk, `--connections` connections for `--duration` seconds per target, loopback
     only: the bare endpoint; GET /tenants/tenant-large/entitlements (as_of now); and the
     same as_of a past date known at an old position. Requests/s, p50 and p99.

Targets: entitlements at >= 70% of the bare endpoint's requests/s, p99 < 20 ms at 16
connections. The load generator shares the machine's 2 cores with the server.

Usage: python bench/http.py [--events 1000000] [--database-url URL] [--keep FILE]
                            [--keep-database NAME]
                            [--duration 10] [--connections 16] [--workers 2]
Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `http`: take that one first, then put
# this directory back for the benchmark's own modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
import http.client  # noqa: F401
import urllib.request

sys.path.insert(0, str(_HERE))

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from common import (
    NOISE_NOTE,
    REPO_ROOT,
    backend_label,
    console,
    create_ledger_schema,
    database_url_argument,
    settle,
    throwaway_database,
)
from history import LARGE
from projections import Args, load, variants
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from ledger import apikeys
from ledger.bootstrap import build_ledger
from ledger.canonical import format_timestamp
from ledger.projections.rebuild import rebuild
from ledger.sql.engine import make_engine, normalise_url
from ledger.types import utcnow


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    script: str | None = None  # a wrk Lua script that makes each request


# Each request asks for a random instant of 2025-2027: the answer cache mostly misses, so
# this measures the query itself (one index probe per series, whatever the history).
RANDOM_AS_OF = """
math.randomseed(42)
request = function()
  local moment = 1735689600 + math.random(0, 3 * 365 * 86400)
  local as_of = os.date("!%Y-%m-%dT%H:%M:%SZ", moment)
  return wrk.format("GET", "PATH?as_of=" .. as_of)
end
"""


@dataclass(frozen=True)
class Result:
    target: Target
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    database_url_argument(parser)
    parser.add_argument("--keep", type=Path, help="SQLite file to build once and reuse")
    parser.add_argument(
        "--keep-database",
        metavar="NAME",
        help="PostgreSQL (with --database-url): database to build once and reuse",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    return parser.parse_args()


def build(url: str, events: int, seed: int) -> tuple[datetime, int]:
    """The projected ledger; returns the past as_of and old position of tenant-large."""
    create_ledger_schema(url)
    engine = make_engine(url)
    try:
        loaded = load(engine, Args(events, seed, url, 5_000, 0, 0, False, False))
        console.print(f"loaded {loaded.events:,} events in {loaded.seconds:.0f} s; rebuilding")
        started = time.perf_counter()
        rebuild(build_ledger(engine))
        console.print(f"rebuilt the projections in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        settle(engine)
        console.print(f"settled the database in {time.perf_counter() - started:.0f} s")
        past = next(
            v for v in variants(loaded.generator, utcnow()) if v.tenant == LARGE and v.known_at
        )
        assert past.known_at is not None
        return past.as_of, past.known_at
    finally:
        engine.dispose()


def kept(args: argparse.Namespace) -> tuple[str, Path] | None:
    """The kept database's URL, and the file that says it was built (and what to ask it)."""
    if args.keep is not None:
        return f"sqlite:///{args.keep.resolve()}", args.keep.with_suffix(".past")
    if args.keep_database is None:
        return None
    server = normalise_url(args.database_url or "sqlite://")
    if server.get_backend_name() != "postgresql":
        raise SystemExit("--keep-database needs a PostgreSQL --database-url")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": args.keep_database}
            ).first()
            if exists is None:
                quoted = admin.dialect.identifier_preparer.quote(args.keep_database)
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    finally:
        admin.dispose()
    marker = Path(tempfile.gettempdir()) / f"ledger-bench-{args.keep_database}.past"
    if exists is None:
        marker.unlink(missing_ok=True)
    url = server.set(database=args.keep_database).render_as_string(hide_password=False)
    return url, marker


def api_key(url: str) -> str:
    engine = make_engine(url)
    try:
        ledger = build_ledger(engine)
        with ledger.write() as uow:
            return apikeys.create(uow.conn, "bench", ["entitlements:read"], None, utcnow())[1]
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(url: str, workers: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.http_settings",
        # Not bench/ itself: its http.py would shadow the standard library's `http`.
        "PYTHONPATH": str(REPO_ROOT),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "contracts.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=REPO_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/api/v1/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not answer within 20 s")
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(base: str, target: Target, key: str, args: argparse.Namespace) -> Result:
    options = ["--latency", "-t", "2", "-c", str(args.connections)]
    if target.script is not None:
        path = Path(tempfile.mkdtemp(prefix="wrk-")) / "requests.lua"
        path.write_text(target.script.replace("PATH", target.path))
        options += ["-s", str(path)]
    request = ["-H", f"Authorization: Bearer {key}", base + target.path]
    subprocess.run(["wrk", *options, "-d", "2s", *request], capture_output=True, check=True)
    out = subprocess.run(
        ["wrk", *options, "-d", f"{args.duration}s", *request],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latencies = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        target,
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        latencies["50"],
        latencies["99"],
        int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        int(errors.group(1)) if errors else 0,
    )


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/http.py needs wrk: apt-get install wrk")
    label = backend_label(args.database_url)
    console.print(
        f"[bold]HTTP benchmark[/] on {label}: {args.events:,} events, gunicorn x{args.workers} "
        f"sync workers, wrk {args.connections} connections x {args.duration} s per target"
    )
    with throwaway_database(args.database_url, f"bench_http_{os.getpid()}") as fresh:
        url, marker = kept(args) or (fresh, None)
        if marker is not None and marker.exists():
            when, position = marker.read_text().split()
            past, old = datetime.fromisoformat(when), int(position)
            console.print(f"reusing the ledger built in {make_url(url).database}")
        else:
            past, old = build(url, args.events, args.seed)
            if marker is not None:
                marker.write_text(f"{past.isoformat()} {old}")
        key = api_key(url)
        targets = [
            Target("bare endpoint: one indexed SELECT", "/bench/events/1000"),
            Target("entitlements, as_of now", f"/api/v1/tenants/{LARGE}/entitlements"),
            Target(
                "entitlements, as_of past, known_at old",
                f"/api/v1/tenants/{LARGE}/entitlements?as_of={format_timestamp(past)}"
                f"&known_at={old}",
            ),
            Target(
                "entitlements, as_of random (answer cache missed)",
                f"/api/v1/tenants/{LARGE}/entitlements",
                RANDOM_AS_OF,
            ),
        ]
        with gunicorn(url, args.workers) as base:
            results = [wrk(base, target, key, args) for target in targets]
    print_results(label, args, results)


def print_results(label: str, args: argparse.Namespace, results: list[Result]) -> None:
    table = Table(title=f"GET throughput - {label}, {args.connections} connections")
    for column in ("target", "req/s", "p50 ms", "p99 ms", "requests", "non-2xx"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for r in results:
        table.add_row(
            r.target.name,
            f"{r.requests_per_second:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.requests:,}",
            str(r.errors),
        )
    console.print(table)
    bare = results[0]
    ratios = Table(title="Against the bare endpoint (same run)")
    for column in ("target", "req/s ratio", "target", "p99 < 20 ms"):
        ratios.add_column(column)
    for r in results[1:]:
        ratio = r.requests_per_second / bare.requests_per_second
        ratios.add_row(
            r.target.name,
            f"{ratio:.2f}",
            ">= 0.70 " + ("met" if ratio >= 0.70 else "missed"),
            f"{r.p99_ms:.1f} ms " + ("met" if r.p99_ms < 20 else "missed"),
        )
    console.print(ratios)
    if any(r.errors for r in results):
        console.print("[red]some requests failed: the figures above are not valid[/]")
    console.print(NOISE_NOTE)


if __name__ == "__main__":
    main()
