"""`import_events` killed at any point never leaves a ledger served as valid: killed before
its commit, nothing was imported; killed after it, before the projections are built, every
read and write and /health answer 503 `projections-stale`, and its retry says what to run.
Each kill is an `os._exit` in a child process: no cleanup runs, as with kill -9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from ledger.unit_of_work import Ledger

ROOT = Path(settings.BASE_DIR)
PROBE = """
WRITE = "WRITE"
import json, os, sys
import django
django.setup()
from django.test import Client
from ledger.apikeys import create
from contracts.runtime import get_ledger
ledger = get_ledger()
with ledger.write() as uow:
    _, key = create(uow.conn, "probe", ["admin"], None, ledger.clock())
client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="localhost")
answers = {}
for path in ("/api/v1/health", "/api/v1/tenants/anthropic/entitlements", "/api/v1/contracts"):
    response = client.get(path)
    answers[path] = [response.status_code, json.loads(response.content)]
if WRITE:
    write = client.post("/api/v1/parties", {"id": "acme", "name": "Acme", "roles": ["tenant"]},
                        content_type="application/json")
    answers["POST /api/v1/parties"] = [write.status_code, json.loads(write.content)]
print(json.dumps(answers))
"""


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    if connections["default"].vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    s = connections["default"].settings_dict
    server = f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}"
    name = f"ledger_import_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def python(code: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LEDGER_"))}
    env |= {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "contracts.settings",
        "LEDGER_VAR_DIR": str(tmp_path / "var"),
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def killed_import(point: str, export: Path, url: str, tmp_path: Path) -> int:
    """Run import_events, dying the moment the restore reaches `point` (a name it calls)."""
    code = f"""
        import os, django
        django.setup()
        from django.core.management import call_command
        from ledger import restore
        setattr(restore, {point!r}, lambda *args, **kwargs: os._exit(9))
        call_command("import_events", {str(export)!r})
    """
    return python(code, url, tmp_path).returncode


def manage(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = f"""
        import sys, django
        django.setup()
        from django.core.management import execute_from_command_line
        execute_from_command_line(["manage.py", *{list(args)!r}])
    """
    return python(code, url, tmp_path)


def probe(url: str, tmp_path: Path, *, write: bool = True) -> dict[str, list[object]]:
    """What the API answers on that database: three reads and (if `write`) one write."""
    result = python(PROBE.replace('"WRITE"', str(write)), url, tmp_path)
    assert result.returncode == 0, result.stderr
    answers: dict[str, list[object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return answers


@pytest.fixture
def export(demo_ledger: Ledger, tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    call_command("export_audit", "--format", "jsonl", "--output", str(path))
    return path


@pytest.fixture
def demo_ledger(ledger: Ledger) -> Ledger:
    from ledger.demo import load_demo

    load_demo(ledger)
    return ledger


def test_killed_before_its_commit_an_import_leaves_nothing(
    export: Path, empty_database: str, tmp_path: Path
) -> None:
    assert manage(empty_database, tmp_path, "migrate", "--verbosity", "0").returncode == 0
    assert killed_import("verify_chain", export, empty_database, tmp_path) == 9

    answers = probe(empty_database, tmp_path, write=False)
    assert answers["/api/v1/health"][0] == 200
    assert answers["/api/v1/health"][1]["head_position"] == 0  # type: ignore[index]
    retried = manage(empty_database, tmp_path, "import_events", str(export))
    assert retried.returncode == 0, retried.stderr


def test_killed_before_its_projections_an_import_is_never_served_as_valid(
    export: Path, empty_database: str, tmp_path: Path, demo_ledger: Ledger
) -> None:
    assert manage(empty_database, tmp_path, "migrate", "--verbosity", "0").returncode == 0
    assert killed_import("rebuild", export, empty_database, tmp_path) == 9

    answers = probe(empty_database, tmp_path)
    for what, (status, body) in answers.items():
        assert status == 503, (what, body)
        assert body["type"] == "/api/v1/problems/projections-stale", (what, body)  # type: ignore[index]
    retried = manage(empty_database, tmp_path, "import_events", str(export))
    assert retried.returncode != 0
    assert "run `python manage.py rebuild_projections`" in retried.stderr
    assert "imported events" in retried.stderr

    rebuilt = manage(empty_database, tmp_path, "rebuild_projections")
    assert rebuilt.returncode == 0, rebuilt.stderr
    answers = probe(empty_database, tmp_path)
    assert answers["/api/v1/health"][0] == 200
    entitlements = answers["/api/v1/tenants/anthropic/entitlements"]
    assert entitlements[0] == 200
    assert entitlements[1]["capacity"]  # type: ignore[index]
    assert answers["POST /api/v1/parties"][0] == 201
