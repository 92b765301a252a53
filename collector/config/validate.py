"""Turn pydantic's errors into located problems with hints, and add the checks pydantic cannot make."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from collector.config.errors import PathT, Problem
from collector.config.secrets import secret_problems
from collector.config.source import SourceMap


def problems_from_validation(
    exc: ValidationError, data: Any, root: type[BaseModel], smap: SourceMap
) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        out.append(_problem(err, path, data, root, smap))
    return out


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathT:
    """Drop the discriminator tags pydantic puts in `loc` for tagged unions, by walking the data."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if _has_child(node, part):
            node = node[part]
            path.append(part)
        elif last or not isinstance(node, dict | list):
            path.append(part)
            node = None
        # else: a union tag such as 'modbus_tcp' or a validator name: not a data level
    return tuple(path)


def _has_child(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _problem(err: ErrorDetails, path: PathT, data: Any, root: type[BaseModel], smap: SourceMap) -> Problem:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    hint = ctx.get("hint")
    message = err["msg"]
    if kind == "extra_forbidden":
        allowed = sorted(_allowed_keys(root, path[:-1], data))
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
        message = f"unknown key {path[-1]!r}"
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        if "：" in str(path[-1]):  # typed with Chinese punctuation: "port： 8080" is one plain word
            hint = "it contains a full-width colon '：': write an ASCII colon and a space, e.g. 'port: 8080'"
        return Problem(smap.locate(path, key=True), path, message, hint)
    if kind == "missing":
        message = f"required key {path[-1]!r} is missing"
        hint = f"add {path[-1]}: ..."
        return Problem(smap.locate(path[:-1]), path, message, hint)
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", ""))
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(err["input"]), choices, n=1, cutoff=0.6)
        message = f"{err['input']!r} is not an allowed value"
        hint = f"did you mean {close[0]!r}? allowed: {expected}" if close else f"use one of: {expected}"
    elif kind == "union_tag_invalid":
        path = (*path, "protocol")
        message = f"unknown protocol {ctx.get('tag')!r}"
        hint = f"use one of: {ctx.get('expected_tags', '')}"
    elif kind == "union_tag_not_found":
        message = "the device has no protocol"
        hint = f"add protocol: one of {ctx.get('expected_tags', '')}"
    return Problem(smap.locate(path), path, message.removeprefix("Value error, "), hint)


def _allowed_keys(root: type[BaseModel], path: PathT, data: Any) -> set[str]:
    """Field names of the model found at `path`, following the data through lists and unions."""
    node: Any = data
    types_: list[Any] = [root]
    for part in path:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        nxt: list[Any] = []
        for t in types_:
            if isinstance(part, int):
                nxt.extend(_item_types(t))
            elif isinstance(t, type) and issubclass(t, BaseModel) and part in t.model_fields:
                nxt.extend(_flatten(t.model_fields[part].annotation))
        types_ = _pick_union_member(nxt, node)
    keys: set[str] = set()
    for t in types_:
        if isinstance(t, type) and issubclass(t, BaseModel):
            keys.update(t.model_fields)
    return keys


def _flatten(tp: Any) -> Iterator[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _flatten(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            yield from _flatten(arg)
    else:
        yield tp


def _item_types(tp: Any) -> Iterator[Any]:
    if typing.get_origin(tp) in (list, tuple):
        for arg in typing.get_args(tp):
            yield from _flatten(arg)


def _pick_union_member(candidates: list[Any], node: Any) -> list[Any]:
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) > 1 and isinstance(node, dict) and "protocol" in node:
        chosen = [
            m for m in models if typing.get_args(m.model_fields["protocol"].annotation) == (node["protocol"],)
        ]
        if chosen:
            return chosen
    return candidates


def semantic_problems(data: Any, smap: SourceMap) -> list[Problem]:
    """Checks across items: duplicates, references to areas/lines, plain-text secrets."""
    out: list[Problem] = []
    out.extend(secret_problems(data, smap))
    if not isinstance(data, dict):
        return out
    devices = data.get("devices")
    if not isinstance(devices, list):
        return out
    out.extend(_duplicates(devices, ("devices",), "id", "device id", smap))
    lines = _declared_lines(data.get("site"))
    for index, device in enumerate(devices):
        if not isinstance(device, dict):
            continue
        tags = device.get("tags")
        if isinstance(tags, list):
            out.extend(_duplicates(tags, ("devices", index, "tags"), "name", "tag name", smap))
        out.extend(_placement(device, ("devices", index), lines, smap))
    return out


def _duplicates(items: list[Any], path: PathT, key: str, what: str, smap: SourceMap) -> list[Problem]:
    seen: dict[Any, int] = {}
    out = []
    for index, item in enumerate(items):
        value = item.get(key) if isinstance(item, dict) else None
        if value is None:
            continue
        if value in seen:
            first = smap.locate((*path, seen[value], key))
            here = (*path, index, key)
            out.append(
                Problem(
                    smap.locate(here),
                    here,
                    f"duplicate {what} '{value}'",
                    f"already used at {first}; {what}s must be unique",
                )
            )
        else:
            seen[value] = index
    return out


def _declared_lines(site: Any) -> dict[str, set[str]] | None:
    if not isinstance(site, dict) or not isinstance(site.get("areas"), list) or not site["areas"]:
        return None
    out: dict[str, set[str]] = {}
    for area in site["areas"]:
        if isinstance(area, dict) and isinstance(area.get("id"), str):
            lines: list[Any] = area["lines"] if isinstance(area.get("lines"), list) else []
            out[area["id"]] = {str(ln.get("id")) for ln in lines if isinstance(ln, dict)}
    return out


def _placement(
    device: dict[str, Any], path: PathT, lines: dict[str, set[str]] | None, smap: SourceMap
) -> list[Problem]:
    if lines is None:
        return []
    area, line = device.get("area"), device.get("line")
    if area is not None and area not in lines:
        here = (*path, "area")
        return [
            Problem(
                smap.locate(here),
                here,
                f"area {area!r} is not declared in site.areas",
                f"declared areas: {', '.join(sorted(lines)) or 'none'}",
            )
        ]
    if area is not None and line is not None and line not in lines[area]:
        here = (*path, "line")
        return [
            Problem(
                smap.locate(here),
                here,
                f"line {line!r} is not declared in area {area!r}",
                f"lines of {area}: {', '.join(sorted(str(x) for x in lines[area])) or 'none'}",
            )
        ]
    return []
