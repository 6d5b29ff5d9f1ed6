"""The one place the Django side builds the ledger: lazily, from the *current* settings.

Tests switch Django to a test database after import; building the engine on first use
from `connections[...].settings_dict` makes the ledger follow.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from django.conf import settings
from django.db import connections

from contracts.database import sqlalchemy_url
from ledger.bootstrap import build_ledger
from ledger.errors import InvalidInput
from ledger.signing import Signer
from ledger.sql.engine import make_engine
from ledger.unit_of_work import Ledger

_lock = threading.Lock()
_ledgers: dict[tuple[object, ...], Ledger] = {}
_ADDRESS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")


def get_ledger(alias: str = "default") -> Ledger:
    # Keyed by the settings that address the database, read afresh on every call (a test
    # run renames NAME in place), without building and rendering a URL on every request.
    settings_dict = connections[alias].settings_dict
    key = tuple(str(settings_dict.get(name)) for name in _ADDRESS)
    ledger = _ledgers.get(key)
    if ledger is None:
        with _lock:
            ledger = _ledgers.get(key)
            if ledger is None:
                url = sqlalchemy_url(settings_dict)
                ledger = build_ledger(make_engine(url, settings.LEDGER_DATABASE))
                _ledgers[key] = ledger
    return ledger


def close_pooled_connections() -> None:
    """Close the ledgers' pooled connections, keeping the ledgers: after a schema change,
    a connection's prepared statements may no longer fit the tables (PostgreSQL refuses
    them: "cached plan must not change result type")."""
    with _lock:
        for ledger in _ledgers.values():
            ledger.close()
            ledger.engine.dispose()


def dispose_all() -> None:
    """Close every pooled connection and forget the ledgers (before dropping a test
    database, for one)."""
    close_pooled_connections()
    with _lock:
        _ledgers.clear()


SigningKeyStatus = Literal["ok", "missing", "invalid"]


class SigningKeyMissing(Exception):
    """No usable manifest signing key: none configured, or one that cannot be read."""

    def __init__(self, message: str, status: SigningKeyStatus = "missing") -> None:
        super().__init__(message)
        self.status = status


def signing_key_status() -> SigningKeyStatus:
    """Whether manifests can be signed: told by /health and by `check --deploy`, so that a
    deployment learns of a missing key before an auditor asks for a manifest."""
    try:
        get_signer()
    except SigningKeyMissing as exc:
        return exc.status
    return "ok"


def get_signer() -> Signer:
    """The manifest signing key from settings: LEDGER_SIGNING_KEY, else its file."""
    pem = settings.LEDGER_SIGNING_KEY.encode()
    if not pem:
        path = Path(settings.LEDGER_SIGNING_KEY_FILE)
        if not path.exists():
            raise SigningKeyMissing(
                f"no signing key: set LEDGER_SIGNING_KEY or run `manage.py create_signing_key`"
                f" (expected {path})"
            )
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyMissing(f"the signing key cannot be read: {exc}", "invalid") from None
    try:
        return Signer.from_pem(pem)
    except InvalidInput as exc:
        raise SigningKeyMissing(str(exc), "invalid") from None
