"""Every test file says what kind of test it is, so `-m unit` runs every unit test and nothing that
needs a server: a module-level `pytestmark` with exactly one of the markers below, the one its folder
is named after (unit: opens no sockets and starts no processes; integration: real servers and child
processes on 127.0.0.1; e2e: the whole pipeline). Read from the source, so no test module is imported."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]
KINDS = ("unit", "integration", "e2e")
TEST_FILES = sorted(TESTS.rglob("test_*.py"))


def markers(path: Path) -> list[str]:
    """The kinds named by the module-level `pytestmark` (a marker or a list of them)."""
    found: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            found += [ast.unparse(v).removeprefix("pytest.mark.") for v in values]
    return [m for m in found if m in KINDS]


def test_test_files_are_found() -> None:
    folders = {p.relative_to(TESTS).parts[0] for p in TEST_FILES}
    assert folders == set(KINDS)
    assert Path(__file__).resolve() in TEST_FILES


def test_every_test_file_has_the_marker_of_its_folder() -> None:
    wrong = {
        str(path.relative_to(TESTS.parent)): markers(path) or "none"
        for path in TEST_FILES
        if markers(path) != [path.relative_to(TESTS).parts[0]]
    }
    assert not wrong, (
        f"test files without `pytestmark = pytest.mark.<their folder>` (found: {wrong}); "
        "a test of another kind belongs in tests/<kind>/"
    )


def test_test_files_import_no_other_test_file() -> None:
    """Shared helpers and fixtures live in tests/support/ (or a conftest), not in a test module."""
    importers = {
        str(path.relative_to(TESTS.parent)): module
        for path in TEST_FILES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (module := node.module or "").startswith(tuple(f"tests.{k}" for k in KINDS))
    }
    assert not importers, f"test files importing a test module: {importers}"


def test_markers_are_registered_and_strict() -> None:
    pyproject = tomllib.loads((TESTS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    options = pyproject["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in options["addopts"].split()
    registered = {m.split(":")[0].strip() for m in options["markers"]}
    assert registered >= set(KINDS)
