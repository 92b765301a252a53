"""The import rules of docs/ARCHITECTURE.md, checked on the source: layers import downwards only,
drivers import nothing from the collector, the configuration imports only the drivers' vocabulary,
the simulators share no code with the drivers, and no module imports itself in a circle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("collector", "drivers", "simulators")

# Lowest first. A module belongs to the layer of its longest matching prefix; it may import its own
# layer and the layers below it. Keep this list and the table in docs/ARCHITECTURE.md the same.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("drivers", "collector", "collector.clock", "collector.aio", "collector.pidfile")),
    ("ledger", ("collector.ledger",)),
    ("config", ("collector.config",)),
    ("records", ("collector.model", "collector.session", "collector.scheduler", "collector.memtrim",
                 "collector.sdnotify", "collector.importers")),
    ("normalise", ("collector.normalise",)),
    ("outbox", ("collector.outbox",)),
    ("sinks", ("collector.sinks",)),
    ("stages", ("collector.events_out", "collector.driver_factory")),
    ("worker", ("collector.worker",)),
    ("delivery", ("collector.delivery", "collector.historian")),
    ("engine", ("collector.engine",)),
    ("recorder", ("collector.recorder",)),
    # the verifier imports nothing of the project; only the evidence builder and above use it
    ("verify", ("collector.evidence.verify",)),
    ("evidence", ("collector.evidence",)),
    ("web", ("collector.web",)),
    ("service", ("collector.service",)),
    ("simulators", ("simulators",)),
    ("tools", ("collector.demo", "collector.commands", "collector.cli", "collector.__main__")),
]  # fmt: skip
# What the configuration may take from the drivers: their vocabulary, which imports no protocol library.
DRIVER_VOCABULARY = ("drivers.base", "drivers.status", "drivers.modbus.spec", "drivers.modbus.options",
                     "drivers.opcua.options", "drivers.s7.spec", "drivers.s7.options", "drivers.mc.spec",
                     "drivers.mc.options")  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported module, line) of every import in the file, relative ones resolved; `from a import b`
    names `a.b` when b is a module of the tree, else `a`."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.append((full if full in MODULES else target, node.lineno))
    return [(name, line) for name, line in out if name.split(".")[0] in PACKAGES]


FILES = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
MODULES = set(FILES)
EDGES = {module: _imports(path, module) for module, path in FILES.items()}


def _layer(module: str) -> int:
    best, level = -1, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    assert level >= 0, f"{module} is in no layer: add it to LAYERS and docs/ARCHITECTURE.md"
    return level


def _where(module: str, line: int) -> str:
    return f"{FILES[module].relative_to(ROOT)}:{line}"


def test_every_import_runs_down_or_stays_in_its_layer() -> None:
    upward = [
        f"{_where(src, line)} {src} ({LAYERS[_layer(src)][0]}) imports {dst} ({LAYERS[_layer(dst)][0]})"
        for src, targets in EDGES.items()
        for dst, line in targets
        if _layer(dst) > _layer(src)
    ]
    assert upward == []
    assert sum(len(t) for t in EDGES.values()) > 300  # the scan saw the tree's imports


def test_drivers_import_nothing_from_the_collector_or_the_simulators() -> None:
    bad = [
        f"{_where(src, line)} imports {dst}"
        for src, targets in EDGES.items()
        if src.startswith("drivers")
        for dst, line in targets
        if not dst.startswith("drivers")
    ]
    assert bad == []


def test_simulators_share_no_code_with_the_drivers() -> None:
    bad = [
        f"{_where(src, line)} imports {dst}"
        for src, targets in EDGES.items()
        if src.startswith("simulators")
        for dst, line in targets
        if dst.startswith("drivers")
    ]
    assert bad == []


def test_the_configuration_takes_only_the_drivers_vocabulary() -> None:
    bad = [
        f"{_where(src, line)} imports {dst}"
        for src, targets in EDGES.items()
        if src.startswith("collector.config")
        for dst, line in targets
        if dst.startswith("drivers") and not dst.startswith(DRIVER_VOCABULARY)
    ]
    assert bad == []
    # ... and the vocabulary imports no protocol library, so loading a plant file loads none
    for module in DRIVER_VOCABULARY:
        tree = ast.parse(FILES[module].read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {n.split(".")[0] for n in names} & {"asyncua", "pymodbus", "serial", "snap7", "s7"}, module


def test_no_module_imports_itself_through_others() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for src, targets in EDGES.items():
        graph[src] |= {dst for dst, _ in targets if dst in MODULES and dst != src}
    # Tarjan's strongly connected components: a component of more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    assert circles == []
