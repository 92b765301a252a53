"""bench/ runs without tests/: a benchmark imports the project's own code (collector, drivers,
simulators) and bench/'s helpers, never the test support, so either can change without the other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

BENCH = Path(__file__).resolve().parents[2] / "bench"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_benchmark_imports_the_tests() -> None:
    # bench/ and its folders; not deeper: bench/peers/install.sh clones other projects into bench/peers/*/
    scripts = sorted([*BENCH.glob("*.py"), *BENCH.glob("*/*.py")])
    assert BENCH / "delivery_bench.py" in scripts
    importers = {
        str(path.relative_to(BENCH.parent)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "tests"
        )
        for path in scripts
    }
    assert not {p: m for p, m in importers.items() if m}
