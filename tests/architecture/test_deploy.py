"""Production settings pass Django's deployment checks; DEBUG is off unless asked for."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_production_settings(signing_pem: str, tmp_path: Path) -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="contracts.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        LEDGER_SIGNING_KEY=signing_pem,
        LEDGER_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_the_signing_key_is_missing(tmp_path: Path) -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="contracts.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        LEDGER_SIGNING_KEY="",
        LEDGER_SIGNING_KEY_FILE=str(tmp_path / "signing-key.pem"),
        LEDGER_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "contracts.W001" in result.stderr
    assert "signing key is missing" in result.stderr
    assert "create_signing_key" in result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    result = manage("check", DJANGO_SETTINGS_MODULE="contracts.production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked_for() -> None:
    code = "from django.conf import settings; print(settings.DEBUG)"
    result = manage("shell", "-c", code, DJANGO_SETTINGS_MODULE="contracts.settings")
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_gunicorn_workers_freeze_what_they_loaded_with_the_urlconf() -> None:
    # In a child process: freezing this test process's objects would outlive the test.
    probe = (
        "import gc, importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('gunicorn_conf', sys.argv[1])\n"
        "conf = importlib.util.module_from_spec(spec); spec.loader.exec_module(conf)\n"
        "import django; django.setup()\n"
        "conf.post_worker_init(None)\n"
        "print(gc.get_freeze_count(), 'contracts.api.tenants' in sys.modules)\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(Path(settings.BASE_DIR) / "gunicorn.conf.py")],
        env={**environment, "DJANGO_SETTINGS_MODULE": "contracts.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    frozen, views_loaded = result.stdout.split()
    assert int(frozen) > 10_000
    assert views_loaded == "True"
