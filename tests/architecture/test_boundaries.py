"""The ledger stays framework-free."""

from __future__ import annotations

import ast
from pathlib import Path

import ledger

FORBIDDEN = ("django", "ninja", "contracts")


def test_ledger_imports_no_django_ninja_or_contracts() -> None:
    offenders = []
    for path in Path(ledger.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
