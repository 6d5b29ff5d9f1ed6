"""Where things live: one module speaks each database's dialect, and no ledger module
grows past what one reader holds in mind."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import contracts
import ledger

LEDGER = Path(ledger.__file__).parent
CONTRACTS = Path(contracts.__file__).parent
DIALECT_HOMES = (
    LEDGER / "sql",
    # Django's side of the same choice: its DATABASES entry for the one DATABASE_URL.
    CONTRACTS / "database.py",
)
DIALECT_CHECK = re.compile(r"dialect\.name|\.vendor\b|[\"'](postgresql|sqlite)[\"']")
LONGEST_LEDGER_MODULE = 450


def _sources() -> list[Path]:
    return [*LEDGER.rglob("*.py"), *CONTRACTS.rglob("*.py")]


def _at_home(path: Path) -> bool:
    return any(path == home or home in path.parents for home in DIALECT_HOMES)


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """The lines of `path` outside docstrings."""
    tree = ast.parse(path.read_text())
    in_docstring: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                in_docstring.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    lines = path.read_text().splitlines()
    return [(n, line) for n, line in enumerate(lines, 1) if n not in in_docstring]


def test_no_module_outside_ledger_sql_compares_dialects() -> None:
    offenders = [
        f"{path.relative_to(LEDGER.parent)}:{n}: {line.strip()}"
        for path in _sources()
        if not _at_home(path)
        for n, line in _code_lines(path)
        if DIALECT_CHECK.search(line.split("#", 1)[0])
    ]
    assert offenders == []


def test_the_dialect_check_finds_a_comparison() -> None:
    assert DIALECT_CHECK.search('if conn.dialect.name == "postgresql":')
    assert DIALECT_CHECK.search("connection.vendor == 'sqlite'")
    assert not DIALECT_CHECK.search("dialect_of(conn).postgres")


def test_no_ledger_module_is_longer_than_one_reader_holds() -> None:
    lengths = {
        str(path.relative_to(LEDGER.parent)): len(path.read_text().splitlines())
        for path in LEDGER.rglob("*.py")
    }
    assert {name: n for name, n in lengths.items() if n > LONGEST_LEDGER_MODULE} == {}


PAYLOAD_READERS = {
    # The registry, which decodes (and upcasts) a payload, and the envelope it travels in.
    "ledger/events.py",
    # The read side's way to the registry, and a registration read in the snapshot's
    # statement and handed to it.
    "ledger/read/payloads.py",
    "ledger/read/known_at.py",
    # The admin's way to the registry.
    "contracts/models.py",
    # The envelope as stored, byte for byte: hashed and signed, never read for meaning.
    "ledger/export.py",
    "contracts/api/events.py",
}


def test_payloads_are_read_through_the_registry_only() -> None:
    """A payload parsed by hand misses the upcasters of every older schema version."""
    offenders = [
        f"{path.relative_to(LEDGER.parent)}:{node.lineno}"
        for path in _sources()
        if not _at_home(path) and str(path.relative_to(LEDGER.parent)) not in PAYLOAD_READERS
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "payload"
    ]
    assert offenders == []


def test_no_read_module_is_named_like_a_query_the_package_exports() -> None:
    """`from ledger.read.contracts import contracts` in the package would make
    `ledger.read.contracts` the function, and a patch of the module's attributes by its
    dotted name would patch the function instead."""
    import ledger.read

    modules = {path.stem for path in (LEDGER / "read").glob("*.py")}
    assert modules & set(ledger.read.__all__) == set()
