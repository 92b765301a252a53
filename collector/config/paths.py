"""Every path in a plant file is relative to the plant file's folder, and the files the collector only
reads must be there.

Paths are made absolute once, when the file is loaded: each place that opens a file (the OPC UA
driver's certificates and trust store, a password file, the store's token) then needs no base
directory, and a path resolved against the working directory — which is `/` under systemd and
wherever the integrator stood when testing — cannot happen again, in this code or in a model added
later. The plant's folder is made absolute too, so the configuration (and its hash) is the same
whether the file was named `plant.yaml` or `/etc/shopfloor/plant.yaml`.
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from collector.config.compose import SourceMap
from collector.config.errors import PathT, Problem

M = TypeVar("M", bound=BaseModel)

# Files the collector reads and never creates: a missing one is a configuration error, found at load
# and not when the first connection tries it (a traceback and exit 1 that systemd restarts forever).
# signing_key_file and sqlite_path are created on first run; pki_dir is created by the trust store.
MUST_EXIST = frozenset(
    {"password_file", "key_password_file", "token_file", "ca_file", "cert_file", "key_file"}
)


def plant_folder(plant_file: Path) -> Path:
    return Path(os.path.abspath(plant_file)).parent


def anchored(model: M, base: Path) -> M:
    """A copy of `model` whose relative paths, at any depth, are joined to `base`."""
    updates: dict[str, Any] = {}
    for name in _path_fields(type(model)):
        value = getattr(model, name)
        new = _anchor(value, base)
        if new is not value:
            updates[name] = new
    return model.model_copy(update=updates) if updates else model


def _anchor(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, BaseModel):
        return anchored(value, base)
    if isinstance(value, list | tuple):
        items = [_anchor(item, base) for item in value]
        same = all(a is b for a, b in zip(items, value, strict=True))
        return value if same else type(value)(items)
    if isinstance(value, dict):
        out = {key: _anchor(item, base) for key, item in value.items()}
        return value if all(out[k] is value[k] for k in value) else out
    return value


@functools.cache
def _path_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that can hold a Path, however deep: the others are not walked (a
    plant's tens of thousands of tags hold none)."""
    return tuple(name for name, info in model.model_fields.items() if _may_hold_path(info.annotation, set()))


def _may_hold_path(annotation: Any, seen: set[Any]) -> bool:
    if annotation is Path:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return False
        seen.add(annotation)
        return any(_may_hold_path(f.annotation, seen) for f in annotation.model_fields.values())
    origin = typing.get_origin(annotation)
    if origin is None:
        return False
    if origin is typing.Annotated:
        return _may_hold_path(typing.get_args(annotation)[0], seen)
    return any(_may_hold_path(arg, seen) for arg in typing.get_args(annotation) if arg is not Ellipsis)


def missing_files(model: BaseModel, smap: SourceMap) -> list[Problem]:
    """A located problem for every MUST_EXIST path that is not a readable file."""
    out = []
    for path, name, file in _named_paths(model, ()):
        if name not in MUST_EXIST:
            continue
        if not file.is_file():
            what = "is a folder, not a file" if file.is_dir() else "does not exist"
            hint = "paths are relative to the plant file's folder; create the file or fix the path"
        elif not os.access(file, os.R_OK):
            what, hint = "cannot be read by this user", "let the service's user read it (chmod 640, chgrp)"
        else:
            continue
        out.append(Problem(smap.locate(path), path, f"{file} {what}", hint))
    return out


def _named_paths(value: Any, path: PathT) -> Iterator[tuple[PathT, str, Path]]:
    """(field path, field name, Path) for every Path in the model, in file order."""
    if isinstance(value, BaseModel):
        for name in _path_fields(type(value)):
            child = getattr(value, name)
            if isinstance(child, Path):
                yield (*path, name), name, child
            else:
                yield from _named_paths(child, (*path, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _named_paths(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _named_paths(item, (*path, str(key)))
