"""The pack's verifier is self-contained: stdlib and cryptography only, vendored copies up to date."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from collector.evidence.verify import vendor

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "collector" / "evidence" / "verify"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, top-level module name) of every import in a file; level > 0 is a relative import."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(0, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.level, (node.module or "").split(".")[0]))
    return out


def test_the_verifier_imports_only_the_standard_library_cryptography_and_itself() -> None:
    foreign = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for level, name in _imports(path)
        if level == 0 and name not in sys.stdlib_module_names and name != "cryptography"
    ]
    assert foreign == []
    assert len(list(PACKAGE.rglob("*.py"))) > 10  # the scan saw the package


@pytest.mark.parametrize("name", sorted(vendor.SOURCES))
def test_each_vendored_copy_is_its_source(name: str) -> None:
    source = vendor.SOURCES[name]
    copy = (PACKAGE / "vendor" / name).read_text(encoding="utf-8")
    expected = vendor.HEADER.format(source=source) + (ROOT / source).read_text(encoding="utf-8")
    assert copy == expected, f"run scripts/vendor-verify: vendor/{name} differs from {source}"
