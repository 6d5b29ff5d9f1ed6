"""Every shell block of the README and docs/ runs, as written, against a throwaway ledger.

A block is marked `<!-- runs: NAME -->` on the line before its fence; NAME says which test
below runs it. The paths, hosts and database URLs the docs show are replaced by temporary
ones; nothing else is changed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connections

ROOT = Path(settings.BASE_DIR)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"<!-- runs: ([a-z-]+) -->\n```sh\n(.*?)```", re.DOTALL)
ANY_SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\s*$", re.MULTILINE)
DOC_DATABASE = "postgresql://ledger@db.internal:5432/ledger"
DOC_RESTORED = "postgresql://ledger@db.internal:5432/ledger_restored"
DOC_BASE = "http://127.0.0.1:8000"

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Block:
    document: Path
    runner: str
    script: str


def blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        marked = BLOCK.findall(text)
        assert len(marked) == len(ANY_SHELL_BLOCK.findall(text)), (
            f"{document.relative_to(ROOT)}: a shell block without a `<!-- runs: NAME -->` line"
        )
        found += [Block(document, runner, script) for runner, script in marked]
    return found


def block(runner: str) -> str:
    [script] = [b.script for b in blocks() if b.runner == runner]
    return script


RUNNERS = {
    "quick-start",
    "tour",
    "deploy",
    "upgrade",
    "keys",
    "signing-key",
    "backup",
    "restore",
    "maintenance",
    "bench",
}


def test_every_shell_block_in_the_docs_is_run_by_a_test() -> None:
    runners = {b.runner for b in blocks()}
    assert runners <= RUNNERS, runners - RUNNERS
    assert runners == RUNNERS, RUNNERS - runners  # no test runs a block that is gone


# -- running blocks ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(tmp: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without the settings a test run chose for itself."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "LEDGER_")) and k != "DATABASE_URL"
    }
    kept["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{kept.get('PATH', '')}"
    return {**kept, "LEDGER_VAR_DIR": str(tmp / "var"), **extra}


def run(
    script: str, env: dict[str, str], replace: dict[str, str], timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    for shown, actual in replace.items():
        script = script.replace(shown, actual)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def manage(env: dict[str, str], *args: str) -> str:
    return run(shlex.join(["python", "manage.py", *args]), env, {}).stdout


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    for name in ("var", "etc", "backups", "run"):
        (tmp_path / name).mkdir()
    return {
        "/etc/ledger": str(tmp_path / "etc"),
        "/var/backups/ledger": str(tmp_path / "backups"),
        "/run/ledger": str(tmp_path / "run"),
    }


@pytest.fixture
def sqlite_urls(tmp_path: Path) -> dict[str, str]:
    # The restore URL first: the ledger's URL is a prefix of it.
    return {
        DOC_RESTORED: f"sqlite:///{tmp_path / 'restored.sqlite3'}",
        DOC_DATABASE: f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    }


# -- the README ----------------------------------------------------------------------------------


@contextmanager
def serving(command: list[str], env: dict[str, str], ready: str) -> Iterator[str]:
    """Start `command` in its own process group; yield its output up to the `ready` line."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if ready in line:
                break
        else:
            pytest.fail("".join(seen))
        yield "".join(seen)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def wait_for(url: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=5) as response:
                answer: dict[str, object] = json.loads(response.read())
                return answer
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def documents(text: str) -> list[dict[str, object]]:
    """The JSON documents curl printed one after another (API answers end in no newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, at = decoder.raw_decode(text, at)
        found.append(document)
        while at < len(text) and text[at].isspace():
            at += 1
    return found


def test_the_quick_start_serves_the_demo_and_the_tour_answers(
    tmp_path: Path, paths: dict[str, str]
) -> None:
    quick_start = block("quick-start").split("\n")
    assert [line for line in quick_start if line] == ["make serve", "make test"]
    # `make test` is what CI runs; this runs `make serve` on a port of its own.
    port = free_port()
    env = clean_environment(tmp_path, HOST=f"127.0.0.1:{port}")
    with serving(["make", "serve"], env, ready="API key (admin scope):") as output:
        key = output.rsplit("API key (admin scope):", 1)[1].split()[0]
        base = f"http://127.0.0.1:{port}"
        health = wait_for(f"{base}/api/v1/health")
        assert health["status"] == "ok"
        assert "admin login: demo / demo" in output

        tour = run(block("tour"), env, {"lk_…": key, DOC_BASE: base})

    answers = documents(tour.stdout)
    now, then, feed, changes = answers
    assert now["tenant"] == then["tenant"] == "anthropic"
    assert then["as_of"] == "2026-07-01T00:00:00.000000Z"
    assert any(line["contracted"] != "0" for line in then["capacity"])
    assert [event["position"] for event in feed["items"]] == [1, 2, 3]
    assert changes["since_position"] == 10


# -- the runbook -----------------------------------------------------------------------------------


def demo_ledger(env: dict[str, str]) -> None:
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "create_signing_key", "--if-missing")
    manage(env, "load_demo")


def test_the_runbook_backs_up_restores_and_checks_a_ledger(
    tmp_path: Path, paths: dict[str, str], sqlite_urls: dict[str, str]
) -> None:
    replace = {**sqlite_urls, **paths}
    env = clean_environment(
        tmp_path,
        DATABASE_URL=sqlite_urls[DOC_DATABASE],
        LEDGER_SIGNING_KEY_FILE=f"{paths['/etc/ledger']}/signing-key.pem",
    )
    demo_ledger(env)

    backup = run(block("backup"), env, replace)
    assert backup.stdout.rstrip().splitlines()[-1].startswith("OK")
    restore = run(block("restore"), env, replace)
    assert "imported" in restore.stdout

    restored = {**env, "DATABASE_URL": sqlite_urls[DOC_RESTORED]}
    run(block("maintenance"), restored, replace)
    again = tmp_path / "again.jsonl"
    manage(restored, "export_audit", "--format", "jsonl", "--output", str(again))
    assert again.read_bytes() == (tmp_path / "backups" / "ledger.jsonl").read_bytes()


def test_the_runbook_rotates_api_keys_and_the_signing_key(
    tmp_path: Path, paths: dict[str, str], sqlite_urls: dict[str, str]
) -> None:
    env = clean_environment(
        tmp_path,
        DATABASE_URL=sqlite_urls[DOC_DATABASE],
        LEDGER_SIGNING_KEY_FILE=f"{paths['/etc/ledger']}/signing-key.pem",
    )
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "create_signing_key")
    old = manage(env, "create_api_key", "--name", "billing-2026", "--scope", "entitlements:read")
    old_id = old.strip().splitlines()[-1].removeprefix("lk_").split(".", 1)[0]

    run(block("keys"), env, {**paths, "OLD_KEY_ID": old_id})
    run(block("signing-key"), env, paths)

    etc = tmp_path / "etc"
    assert (etc / "billing-2027.key").read_text().startswith("lk_")
    listed = manage(env, "list_api_keys")
    assert {"billing-2026", "billing-2027", "anthropic-gateway"} <= set(
        re.findall(r"[\w-]+", listed)
    )
    old_public, new_public = (
        (etc / "public-2026.pem").read_text(),
        (etc / "public-2027.pem").read_text(),
    )
    assert old_public.startswith("-----BEGIN PUBLIC KEY-----")
    assert new_public.startswith("-----BEGIN PUBLIC KEY-----")
    assert old_public != new_public


@pytest.mark.postgres
def test_the_runbook_deploys_on_postgresql_and_upgrades(
    tmp_path: Path, paths: dict[str, str]
) -> None:
    admin_url = connections["default"].settings_dict
    server = f"postgresql://{admin_url['USER']}@{admin_url['HOST']}:{admin_url['PORT']}"
    database = f"ledger_docs_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    port = free_port()
    replace = {DOC_DATABASE: f"{server}/{database}", "127.0.0.1:8000": f"127.0.0.1:{port}", **paths}
    env = clean_environment(tmp_path)
    pid_file = tmp_path / "run" / "gunicorn.pid"
    try:
        deployed = run(block("deploy"), env, replace)
        assert documents(deployed.stdout.split("\n")[-1])[-1]["signing_key"] == "ok"
        first_pid = pid_file.read_text().strip()

        run(block("upgrade"), env, replace)

        health = wait_for(
            f"http://127.0.0.1:{port}/api/v1/health",
            {"Host": "ledger.example.com", "X-Forwarded-Proto": "https"},
        )
        assert (health["status"], health["database"]) == ("ok", "ok")
        assert pid_file.read_text().strip() == first_pid  # reloaded, not restarted
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            time.sleep(1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


# -- the benchmarks ------------------------------------------------------------------------------


def bench_commands() -> list[str]:
    return [
        line
        for b in blocks()
        if b.runner == "bench"
        for line in b.script.splitlines()
        if line.strip()
    ]


@pytest.mark.parametrize("command", bench_commands())
def test_each_benchmark_command_names_a_script_and_options_it_has(command: str) -> None:
    """The benchmarks take minutes: CI checks that each documented command line is one
    the script accepts (its options and their values), not its figures."""
    program, script, *arguments = shlex.split(command)
    assert program == ".venv/bin/python"
    if script == "bench/peer.py":
        pytest.importorskip("eventsourcing", reason="make install-bench installs the peer")
    probe = (
        "import runpy, sys\n"
        "import argparse\n"
        "def parse(self, args=None, namespace=None):\n"
        "    parsed = original(self, args, namespace)\n"
        "    print('PARSED'); sys.exit(0)\n"
        "original = argparse.ArgumentParser.parse_args\n"
        "argparse.ArgumentParser.parse_args = parse\n"
        "sys.argv = sys.argv[1:]\n"
        "sys.path.insert(0, sys.argv[0].rsplit('/', 1)[0])\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, script, *arguments],
        cwd=ROOT,
        env=clean_environment(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("PARSED"), result.stdout
