"""YAML documents with the file position of every node, and ${ENV} substitution.

A file is read as UTF-8 (textfile.py), its YAML events are composed into plain dicts, lists and
scalars with a map from field path to position (compose.py), so any later error (pydantic or our own)
can be located; syntax errors are located by syntax.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import Event

from collector.config.common import SECRET_KEYS
from collector.config.compose import Composer, Refused, SourceMap
from collector.config.errors import Location, PathT, Problem
from collector.config.syntax import syntax_problem
from collector.config.textfile import read_text

try:  # libyaml for ruamel.yaml; imported by name so that no other YAML(typ="safe") changes parser
    from _ruamel_yaml_clibz import CParser  # type: ignore[import-not-found]
except ImportError:  # a platform without the wheel: the same result, slower
    CParser = None

__all__ = ["Document", "SourceMap", "load_yaml"]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Document:
    data: Any
    smap: SourceMap


def _events(text: str, *, pure: bool) -> Iterator[Event]:
    """libyaml's events (ruamel.yaml.clibz), or ruamel.yaml's own parser's when asked or without it."""
    if pure or CParser is None:
        yield from YAML(typ="safe", pure=True).parse(text)
        return
    parser = CParser(text)
    while parser.check_event():
        yield parser.get_event()


def _compose(text: str, display: str, *, pure: bool) -> tuple[Any, SourceMap, list[Problem]]:
    smap = SourceMap()
    smap.values[()] = Location(display, 1, 1)
    found: list[Problem] = []
    composer = Composer(display, smap, found, lambda s, p: _substitute(s, p, smap, found))
    try:
        return composer.compose(_events(text, pure=pure)), smap, found
    except Refused as exc:
        raise Refused(exc.problem, [*found, exc.problem]) from exc


def load_yaml(path: Path, display: str, problems: list[Problem]) -> Document | None:
    """Parse one file; an unreadable file, a syntax error or a refused document becomes a located
    problem and None.

    libyaml first (fast); where it refuses, ruamel.yaml's own parser decides. The two differ in a
    few corners — libyaml refuses a ':' inside a plain value in braces, `{start: 2026-11-25T14:00}`,
    which YAML 1.2 and ruamel.yaml accept — and ruamel.yaml is the dialect plant files are written in."""
    text = read_text(path, display, problems)
    if text is None:
        return None
    try:
        try:
            data, smap, found = _compose(text, display, pure=False)
        except YAMLError:
            data, smap, found = _compose(text, display, pure=True)
    except YAMLError as exc:
        problems.append(syntax_problem(exc, display, text))
        return None
    except Refused as exc:
        problems.extend(exc.found)
        return None
    problems.extend(found)
    return Document(data, smap)


def _substitute(text: str, path: PathT, smap: SourceMap, problems: list[Problem]) -> str:
    if "${" not in text:
        return text
    smap.from_env.add(path)
    if any(m.group(2) is not None for m in _ENV_RE.finditer(text)):
        smap.env_defaults.add(path)

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
                f"export {name}=... before starting (the service reads its environment file)"
                + ("" if path[-1:] and path[-1] in SECRET_KEYS else f", or write ${{{name}:-default}}"),
            )
        )
        return ""

    return _ENV_RE.sub(repl, text)
