"""The tests import what they share (config_fixtures, test_cli's recipes, ...) by one name, from the tests' folder
that pytest puts on sys.path: ``from tests.x import`` needs the repository root on sys.path too, which a plain
``pytest`` (not ``python -m pytest``) does not give, and two names make two module objects. Read with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_imports_the_tests_folder_as_a_package() -> None:
    bad = []
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            bad += [f"{path.name}:{node.lineno}" for name in names if name.split(".")[0] == "tests"]
    assert bad == [], f"import these from the tests' folder (from config_fixtures import ...): {bad}"
