"""The ledger stays framework-free, and its domain free of I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import ledger

FORBIDDEN = ("django", "ninja", "contracts")


def test_ledger_imports_no_django_ninja_or_contracts() -> None:
    offenders = [
        f"{path.name}: {name}"
        for path in Path(ledger.__file__).parent.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


IMPURE = (
    "sqlalchemy",
    "psycopg",
    "secrets",
    "random",
    "uuid",
    "time",
    "os",
    "ledger.store",
    "ledger.unit_of_work",
    "ledger.handlers",
    "ledger.tables",
    "ledger.read",
    "ledger.sql",
)
"""What a decision must not reach for: the database, the clock, randomness, the OS."""


def test_the_domain_reads_no_database_clock_or_randomness() -> None:
    domain = Path(ledger.__file__).parent / "domain"
    offenders = []
    for path in domain.rglob("*.py"):
        offenders += [
            f"{path.relative_to(domain)}: {name}"
            for name in _imports(path)
            if any(name == bad or name.startswith(bad + ".") for bad in IMPURE)
        ]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today"):
                offenders.append(f"{path.relative_to(domain)}:{node.lineno}: .{node.attr}")
    assert offenders == []


def test_every_command_is_decided_in_the_domain() -> None:
    """Handlers load and call a `decide_*` function: none raises a refusal itself."""
    handlers = Path(ledger.__file__).parent / "handlers.py"
    tree = ast.parse(handlers.read_text())
    raised = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", "") in ("RuleViolation", "InvalidInput")
    ]
    assert raised == []
