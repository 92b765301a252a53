"""YAML events -> plain dicts, lists and scalars, with the file position of every key and value.

One pass over the parser's event stream with an explicit stack: no recursion (a file nested
thousands of levels deep is refused at the level that crosses MAX_DEPTH, not with a RecursionError),
and aliases are expanded here, counted against MAX_ALIAS_NODES (a "billion laughs" file of a few
hundred bytes otherwise expands to gigabytes). Events come from libyaml through ruamel.yaml.clib when
it is installed — a 7 MB plant file parses in about a second instead of a minute with the pure-Python
parser — and from ruamel.yaml's own parser otherwise; both report the same marks.

Scalars are resolved as ruamel.yaml resolves them (scalars.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from collector.config.errors import Location, PathT, Problem
from collector.config.scalars import CORE, construct, resolve

# A plant file nests about ten levels (devices, a device, state, conditions, ...).
MAX_DEPTH = 64
# Values an alias may copy in all: generous for reusing a tag map, fatal for an alias bomb.
MAX_ALIAS_NODES = 100_000

_MERGE = "<<"


class Refused(Exception):
    """The document cannot be composed; the problem says where and why."""

    def __init__(self, problem: Problem, found: list[Problem] | None = None) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.found = found if found is not None else [problem]  # with what was found before it


@dataclass
class SourceMap:
    """Positions of values and of mapping keys, by path; which values came from ${ENV}."""

    values: dict[PathT, Location] = field(default_factory=dict)
    keys: dict[PathT, Location] = field(default_factory=dict)
    from_env: set[PathT] = field(default_factory=set)
    env_defaults: set[PathT] = field(default_factory=set)  # written as ${NAME:-default}

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
        for mine, theirs in ((self.from_env, other.from_env), (self.env_defaults, other.env_defaults)):
            mine.update(dst + p[n:] for p in theirs if p[:n] == src)


@dataclass
class _Frame:
    path: PathT
    node: dict[str, Any] | list[Any]
    anchor: str | None
    key: str | None = None  # a mapping's key waiting for its value
    merges: list[tuple[PathT, Any]] = field(default_factory=list)


class Composer:
    """Turns one file's events into (data, positions); strings go through `on_string` (${ENV})."""

    def __init__(
        self, display: str, pos: SourceMap, problems: list[Problem], on_string: Callable[[str, PathT], str]
    ) -> None:
        self.display = display
        self.pos = pos
        self.problems = problems
        self.on_string = on_string
        self._stack: list[_Frame] = []
        self._anchors: dict[str, PathT] = {}
        self._anchored: dict[str, Any] = {}
        self._alias_nodes = 0
        self._documents = 0
        self._root: Any = None

    def compose(self, events: Iterable[Event]) -> Any:
        for event in events:
            if isinstance(event, ScalarEvent):
                self._scalar(event)
            elif isinstance(event, MappingStartEvent | SequenceStartEvent):
                self._open(event, {} if isinstance(event, MappingStartEvent) else [])
            elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                self._close()
            elif isinstance(event, AliasEvent):
                self._alias(event)
            elif isinstance(event, DocumentStartEvent):
                self._documents += 1
                if self._documents > 1:
                    raise Refused(
                        self._problem(
                            event,
                            "a second YAML document ('---') in one file",
                            "a configuration file holds one document",
                        )
                    )
        return self._root

    # --- placing a node ----------------------------------------------------------------------

    def _loc(self, event: Event) -> Location:
        mark = event.start_mark
        return Location(self.display, mark.line + 1, mark.column + 1)

    def _problem(self, event: Event, message: str, hint: str, path: PathT = ()) -> Problem:
        return Problem(self._loc(event), path, message, hint)

    def _slot(self, event: Event) -> PathT | None:
        """The path the node of `event` takes, or None when it is a mapping key (kept for its value)."""
        if not self._stack:
            self.pos.values[()] = self._loc(event)
            return ()
        top = self._stack[-1]
        if isinstance(top.node, list):
            path = (*top.path, len(top.node))
        elif top.key is None:
            return None
        else:
            path = (*top.path, top.key)
        self.pos.values[path] = self._loc(event)
        return path

    def _attach(self, path: PathT, value: Any) -> None:
        if not self._stack:
            self._root = value
            return
        top = self._stack[-1]
        if isinstance(top.node, list):
            top.node.append(value)
            return
        key, top.key = top.key, None
        if key == _MERGE:
            top.merges.append((path, value))
        elif key is not None and not key.startswith("\0"):
            top.node[key] = value

    def _key(self, event: ScalarEvent) -> None:
        top = self._stack[-1]
        assert isinstance(top.node, dict)
        text = str(event.value)
        plain = event.style is None and event.tag is None
        key = _MERGE if plain and text == _MERGE else text
        path = (*top.path, key)
        if key != _MERGE and key in top.node:
            first = self.pos.keys.get(path)
            self._duplicates(event, path, first)
            key = f"\0{len(self.pos.keys)}"  # its value is composed, then dropped
            path = (*top.path, key)
        self.pos.keys[path] = self._loc(event)
        top.key = key

    def _duplicates(self, event: Event, path: PathT, first: Location | None) -> None:
        where = f" (first at line {first.line})" if first else ""
        self.problems.append(
            self._problem(
                event, f"duplicate key {path[-1]!r}{where}", "each key may appear once in a mapping", path
            )
        )

    # --- events ------------------------------------------------------------------------------

    def _scalar(self, event: ScalarEvent) -> None:
        path = self._slot(event)
        if path is None:
            self._key(event)
            return
        value = self._value(event, path)
        self._attach(path, value)
        if event.anchor:
            self._remember(event.anchor, path, value)

    def _open(self, event: Event, node: dict[str, Any] | list[Any]) -> None:
        path = self._slot(event)
        if path is None:
            raise Refused(
                self._problem(event, "a mapping or list used as a key", "keys are plain words such as 'host'")
            )
        if len(self._stack) >= MAX_DEPTH:
            raise Refused(
                self._problem(
                    event,
                    f"nested deeper than {MAX_DEPTH} levels",
                    "a plant file nests about ten levels; look for unbalanced brackets or a "
                    "generator that went wrong",
                )
            )
        self._stack.append(_Frame(path, node, getattr(event, "anchor", None)))

    def _close(self) -> None:
        frame = self._stack.pop()
        if frame.merges:
            self._merge(frame)
        self._attach(frame.path, frame.node)
        if frame.anchor:
            self._remember(frame.anchor, frame.path, frame.node)

    def _alias(self, event: AliasEvent) -> None:
        path = self._slot(event)
        name = str(event.anchor)
        if path is None:
            raise Refused(self._problem(event, f"an alias (*{name}) used as a key", "write the key itself"))
        if name not in self._anchored:
            raise Refused(
                self._problem(
                    event,
                    f"alias *{name} names no anchor defined before it",
                    f"define &{name} earlier in the file (anchors are per file)",
                    path,
                )
            )
        value = self._copy(self._anchors[name], path, self._anchored[name], event)
        self._attach(path, value)

    def _remember(self, anchor: str, path: PathT, value: Any) -> None:
        self._anchors[str(anchor)] = path
        self._anchored[str(anchor)] = value

    # --- aliases and merge keys ----------------------------------------------------------------

    def _copy(self, src: PathT, dst: PathT, value: Any, event: Event) -> Any:
        """A deep copy of `value` (composed at `src`) placed at `dst`, positions included."""
        out: Any = _shell(value)
        work: list[tuple[PathT, PathT, Any, Any]] = [(src, dst, value, out)]
        while work:
            s, d, v, o = work.pop()
            self._alias_nodes += 1
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise Refused(
                    self._problem(
                        event,
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} values",
                        "a file that small cannot need that much repetition (an alias bomb?); use "
                        "templates for repeated tag maps",
                        dst,
                    )
                )
            loc = self.pos.values.get(s)
            if loc is not None and d != dst:
                self.pos.values[d] = loc
            items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
            for k, child in items:
                copy = _shell(child)
                if isinstance(o, dict):
                    o[k] = copy
                    key_loc = self.pos.keys.get((*s, k))
                    if key_loc is not None:
                        self.pos.keys[(*d, k)] = key_loc
                else:
                    o.append(copy)
                work.append(((*s, k), (*d, k), child, copy))
        return out

    def _merge(self, frame: _Frame) -> None:
        """`<<: *defaults` (or a list of them): keys the mapping does not set itself."""
        node = frame.node
        assert isinstance(node, dict)
        for path, value in frame.merges:
            sources = value if isinstance(value, list) else [value]
            for index, source in enumerate(sources):
                src = (*path, index) if isinstance(value, list) else path
                if not isinstance(source, dict):
                    loc = self.pos.values.get(src)
                    self.problems.append(
                        Problem(loc, src, "'<<' merges only mappings", "write <<: *anchor of a mapping")
                    )
                    continue
                for key, item in source.items():
                    if key not in node:
                        node[key] = item
                        self._graft(src, (*frame.path, key), key, item)

    def _graft(self, src: PathT, dst: PathT, key: str, item: Any) -> None:
        """Positions of a merged entry: the values were composed (or copied) under `src`."""
        key_loc = self.pos.keys.get((*src, key))
        if key_loc is not None:
            self.pos.keys[dst] = key_loc
        work: list[tuple[PathT, PathT, Any]] = [((*src, key), dst, item)]
        while work:
            s, d, v = work.pop()
            loc = self.pos.values.get(s)
            if loc is not None:
                self.pos.values[d] = loc
            items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
            for k, child in items:
                if isinstance(v, dict) and (*s, k) in self.pos.keys:
                    self.pos.keys[(*d, k)] = self.pos.keys[(*s, k)]
                work.append(((*s, k), (*d, k), child))

    # --- scalars -----------------------------------------------------------------------------

    def _value(self, event: ScalarEvent, path: PathT) -> Any:
        text = str(event.value)
        tag = None if event.tag is None else str(event.tag)
        if tag is None or tag == "!":
            kind = resolve(text) if event.implicit[0] else "str"
        elif tag.startswith(CORE):
            kind = tag.removeprefix(CORE)
        else:
            raise Refused(
                self._problem(
                    event, f"YAML tag {tag} is not supported", "remove the tag; values are plain YAML", path
                )
            )
        if kind == "str":
            return self.on_string(text, path) if "${" in text else text
        try:
            return construct(kind, text)
        except ValueError as exc:
            raise Refused(
                self._problem(
                    event, f"{text!r} is not a valid !!{kind}: {exc}", "fix the value or quote it", path
                )
            ) from exc


def _shell(value: Any) -> Any:
    """An empty container of the same kind, or the scalar itself (scalars are immutable)."""
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return value
