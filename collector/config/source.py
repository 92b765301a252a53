"""YAML documents with the file position of every node, and ${ENV} substitution.

ruamel.yaml's round-trip loader keeps line/column on every mapping and sequence; we flatten that into
a map from field path to position so any later error (pydantic or our own) can be located.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from collector.config.errors import Location, PathT, Problem

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class SourceMap:
    """Positions of values and of mapping keys, by path."""

    values: dict[PathT, Location] = field(default_factory=dict)
    keys: dict[PathT, Location] = field(default_factory=dict)
    from_env: set[PathT] = field(default_factory=set)

    def locate(self, path: PathT, *, key: bool = False) -> Location | None:
        """The position of `path`, or of its nearest ancestor that has one."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            loc = self.values.get(path[:end])
            if loc is not None:
                return loc
        return None

    def graft(self, other: SourceMap, src: PathT, dst: PathT) -> None:
        """Copy positions under `src` in `other` to `dst` here (templates, device files)."""
        n = len(src)
        for table_from, table_to in ((other.values, self.values), (other.keys, self.keys)):
            for path, loc in table_from.items():
                if path[:n] == src:
                    table_to[dst + path[n:]] = loc
        self.from_env.update(dst + p[n:] for p in other.from_env if p[:n] == src)


@dataclass
class Document:
    data: Any
    smap: SourceMap


def load_yaml(path: Path, display: str, problems: list[Problem]) -> Document | None:
    """Parse one file; a syntax error becomes a located problem and None."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(None, (), f"cannot read {display}: {exc.strerror}", "check the path"))
        return None
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        hint = (
            "each key may appear once in a mapping"
            if "duplicate" in str(what)
            else "check indentation and quoting"
        )
        problems.append(Problem(loc, (), f"YAML syntax error: {what}", hint))
        return None
    smap = SourceMap()
    smap.values[()] = Location(display, 1, 1)
    data = _plain(raw, (), display, smap, problems)
    return Document(data, smap)


def _plain(node: Any, path: PathT, display: str, smap: SourceMap, problems: list[Problem]) -> Any:
    """ruamel nodes -> plain dict/list/scalars, recording positions and substituting ${ENV}."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, str(key))
            kline, kcol = node.lc.key(key)
            vline, vcol = node.lc.value(key)
            smap.keys[child] = Location(display, kline + 1, kcol + 1)
            smap.values[child] = Location(display, vline + 1, vcol + 1)
            out[str(key)] = _plain(node[key], child, display, smap, problems)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            smap.values[child] = Location(display, line + 1, col + 1)
            items.append(_plain(item, child, display, smap, problems))
        return items
    if isinstance(node, str):
        return _substitute(str(node), path, smap, problems)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def _substitute(text: str, path: PathT, smap: SourceMap, problems: list[Problem]) -> str:
    if "${" not in text:
        return text
    smap.from_env.add(path)

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is not None:
            return value
        if default is not None:
            return default
        problems.append(
            Problem(
                smap.locate(path),
                path,
                f"environment variable {name} is not set",
                f"export {name}=... before starting, or write ${{{name}:-default}}",
            )
        )
        return ""

    return _ENV_RE.sub(repl, text)
